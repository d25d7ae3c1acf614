"""The closed loop: corrections become the next model."""
