"""The CPU training dropout: torch's distribution (drop rate, scale, gradient), seeded, switched on only inside."""

from __future__ import annotations

import pytest
import torch

from tunelab.training.fast_dropout import FastDropout, fast_dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_the_mask_drops_at_the_rate_asked_and_the_output_keeps_the_mean(p: float) -> None:
    torch.manual_seed(0)
    shape = (64, 33, 97)  # odd element count: the last int32 draw is half used
    keep = keep_mask(shape, p)
    assert keep.shape == shape and keep.dtype == torch.bool
    n = keep.numel()
    dropped = 1.0 - keep.float().mean().item()
    assert abs(dropped - p) < 4 * (p * (1 - p) / n) ** 0.5  # within 4 standard errors
    layer = FastDropout(p).train()
    x = torch.ones(shape)
    y = layer(x)
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p), rel=1e-3)
    assert abs(y.mean().item() - 1.0) < 4 * (p / (1 - p) / n) ** 0.5


def test_the_two_halves_of_a_draw_are_not_tied() -> None:
    torch.manual_seed(1)
    keep = keep_mask((200_000,), 0.5).view(-1, 2).float()  # neighbours come from one 31-bit draw
    both = (keep[:, 0] * keep[:, 1]).mean().item()
    assert abs(both - 0.25) < 0.01


def test_gradient_flows_through_the_kept_elements_only_and_eval_is_the_identity() -> None:
    torch.manual_seed(2)
    layer = FastDropout(0.3).train()
    x = torch.randn(8, 5, 16, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    kept = y != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / (1 - 0.3)), rtol=1e-3)
    assert torch.all(x.grad[~kept] == 0)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_a_seed_repeats_the_mask_and_another_seed_changes_it() -> None:
    def draw(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return keep_mask((1000,), 0.1)

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_the_switch_covers_every_dropout_module_and_is_undone_on_exit() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1),
                                torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(4, 2)))
    with pytest.raises(RuntimeError), fast_dropout(model) as switched:
        assert switched == 2
        assert [type(m) for m in model.modules()].count(FastDropout) == 2
        raise RuntimeError("a failed step")
    assert not any(isinstance(m, FastDropout) for m in model.modules())
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.1, 0.2]
