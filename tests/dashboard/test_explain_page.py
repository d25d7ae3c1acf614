"""The playground's "Explain" box: words coloured toward (green) or against (red) the label, the text escaped."""

from __future__ import annotations

import html as htmllib
import re

from tests.dashboard.conftest import Browser
from tunelab.serving.dashboard.pages.playground import attribution_pieces


def test_attribution_pieces_cover_the_text_and_bin_by_strength() -> None:
    text = "a <b> c, d"
    words = [{"start": 0, "end": 1, "score": 0.8}, {"start": 2, "end": 5, "score": -0.2},
             {"start": 6, "end": 7, "score": 0.0}, {"start": 9, "end": 10, "score": -0.8}]
    pieces = attribution_pieces(text, words)
    assert "".join(p for p, _, _ in pieces) == text
    assert [(p, css) for p, css, _ in pieces if css or p.strip()] == [
        ("a", "attr-p4"), ("<b>", "attr-n1"), ("c", None), (", ", None), ("d", "attr-n4")]
    assert pieces[0][2] == "+0.8000"


def test_playground_explains_and_escapes(admin: Browser) -> None:
    plain = admin.post("/playground", {"model": "intents", "text": "where is my parcel"}).text
    assert 'id="explanations"' not in plain
    text = "where is my <i>parcel</i> & refund"
    page = admin.post("/playground", {"model": "intents", "text": text, "explain": "1"})
    assert page.status_code == 200, page.text
    section = page.text.split('id="explanations"')[1].split("</section>")[0]
    assert "<i>" not in section and "</i>" not in section and "&lt;" in section and "&amp;" in section
    attributed = section.split('<span class="attributed">')[1].rsplit("</span></p>", 1)[0]
    assert htmllib.unescape(re.sub(r"<[^>]+>", "", attributed)) == text  # every character shown, once, in order
    coloured = re.findall(r'<span class="attr-([pn])(\d)" title="([^"]+)">([^<]*)</span>', section)
    assert {htmllib.unescape(word) for _, _, _, word in coloured} >= {"where", "parcel", "refund"}
    assert any(level == "4" for _, level, _, _ in coloured)  # the strongest word gets the darkest colour
    for sign, _level, title, _word in coloured:
        assert title[0] == ("+" if sign == "p" else "-")  # the sign as shown: -0.0000 is a small negative score
    assert 'name="explain" value="1" checked' in page.text
