// New run page: refuse a too-big or non-UTF-8 file before it is sent, saying what to do.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("file");
  var problem = document.getElementById("file-problem");
  var limit = parseInt(form.getAttribute("data-limit"), 10);
  function show(message) { problem.textContent = message; problem.hidden = !message; }
  function lineOfFirstBadByte(bytes) {
    var text = new TextDecoder("utf-8").decode(bytes);  // bad bytes become U+FFFD
    var at = text.indexOf("\uFFFD");
    return text.slice(0, at < 0 ? 0 : at).split("\n").length;
  }
  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) { return; }
    if (file.size > limit) {
      event.preventDefault();
      show(file.name + " is " + file.size.toLocaleString() + " bytes; the server accepts up to " +
           limit.toLocaleString() + ". Use a smaller sample, or ask the admin to raise max_body_bytes.");
      return;
    }
    if (form.getAttribute("data-checked") === "yes") { return; }
    event.preventDefault();
    file.arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      try { new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) {
        show(file.name + " is not UTF-8 text (first bad byte on line " + lineOfFirstBadByte(bytes) +
             "). Save it as UTF-8 (in Excel: Save As, CSV UTF-8) and upload it again.");
        return;
      }
      show("");
      form.setAttribute("data-checked", "yes");
      form.requestSubmit ? form.requestSubmit() : form.submit();
    });
  });
})();
