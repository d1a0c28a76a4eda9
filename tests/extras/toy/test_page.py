"""The interactive page: self-contained, its numbers equal the core's, and its sliders work.

The browser tests run the page in headless Chromium (see conftest.py) and skip, saying so, where
no Chromium is installed.
"""

import json
import re
from dataclasses import asdict

import pytest
import torch

from metarl.extras.toy import page

CANVASES = ("curvature", "regularised", "metagrad", "sweep")
CANVAS_HASHES = """(() => {
  const out = {};
  for (const canvas of document.querySelectorAll("canvas")) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let hash = 2166136261;
    for (let i = 0; i < data.length; i++) { hash ^= data[i]; hash = Math.imul(hash, 16777619); }
    out[canvas.id] = hash >>> 0;
  }
  return out;
})()"""
# Each slider, a new value, and the panels that must change (the others must not).
SLIDER_MOVES = [
    ("a", 0.5, CANVASES),
    ("b", -0.3, CANVASES),
    ("c", 1.7, CANVASES),
    ("g1", -1.0, CANVASES),
    ("g2", 1.0, CANVASES),
    ("theta1", 1.0, ("regularised", "metagrad", "sweep")),
    ("theta2", -1.0, ("regularised", "metagrad", "sweep")),
    ("loglam", 0.7, ("regularised", "metagrad")),
    ("alpha", 0.45, ("metagrad", "sweep")),
    ("k", 6, ("metagrad", "sweep")),
]


def embedded_reference(html: str) -> dict:
    match = re.search(r'<script id="reference" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("page") / "explorer.html"
    page.write_page(path)
    return path


def test_page_is_self_contained(page_file):
    html = page_file.read_text(encoding="utf-8")
    assert "http" not in html, "the page must not load anything from the network"
    assert "<link" not in html and " src=" not in html
    assert html.count("<script") == 2  # the embedded core numbers and the inline program


def test_embedded_numbers_are_the_cores_and_match_the_closed_forms(page_file, closed_forms):
    reference = embedded_reference(page_file.read_text(encoding="utf-8"))
    default = json.loads(json.dumps(asdict(page.DEFAULT_STATE)))
    assert reference["settings"][0]["state"] == default
    for setting in reference["settings"]:
        state = page.PageState(
            **{
                **setting["state"],
                "g": tuple(setting["state"]["g"]),
                "theta": tuple(setting["state"]["theta"]),
            }
        )
        assert setting["core"] == page.core_numbers(state)
        task = {
            "curvature": torch.tensor(
                [[state.a, state.b], [state.b, state.c]], dtype=torch.float64
            ),
            "offset": torch.tensor(state.g, dtype=torch.float64),
        }
        tasks = {
            "curvature": task["curvature"][None],
            "offset": task["offset"][None],
            "query_offset": task["offset"][None],
        }
        theta = torch.tensor(state.theta, dtype=torch.float64)
        slider = closed_forms(tasks, theta, state.alpha, state.k, state.lam)
        matched = closed_forms(tasks, theta, state.alpha, state.k, 1 / (state.k * state.alpha))
        core = {
            key: torch.tensor(value, dtype=torch.float64) for key, value in setting["core"].items()
        }
        for name in ("maml", "fomaml", "reptile", "hfmaml"):
            torch.testing.assert_close(core[name], slider[name], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(core["imaml"], slider["imaml"], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(core["phiStar"], slider["phi_star"][0], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(core["imamlMatched"], matched["imaml"], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(core["path"][-1], slider["path_end"][0])


def test_random_states_keep_both_inner_problems_solvable():
    for state in page.random_states(20, torch.Generator().manual_seed(5)):
        curvature = torch.tensor([[state.a, state.b], [state.b, state.c]])
        smallest = float(torch.linalg.eigvalsh(curvature)[0])
        assert state.lam + smallest > 0.2
        assert 1 / (state.k * state.alpha) + smallest > 0.2


def test_page_loads_without_errors_and_checks_itself(browser_page, page_file):
    browser_page.open(page_file)
    assert browser_page.errors() == []
    check = browser_page.evaluate("toyExplorer.check")
    assert check["ok"], check
    assert check["worst"] < page.TOLERANCE
    assert "Check passed" in browser_page.evaluate("document.getElementById('check').textContent")
    # The sliders start where the page's first reference setting says they do.
    state = browser_page.evaluate("toyExplorer.readState()")
    expected = json.loads(json.dumps(asdict(page.DEFAULT_STATE)))
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert state[key] == pytest.approx(value), key


def test_every_slider_changes_its_panels(browser_page, page_file):
    browser_page.open(page_file)
    before = browser_page.evaluate(CANVAS_HASHES)
    assert set(before) == set(CANVASES)
    for slider, value, changed in SLIDER_MOVES:
        table = browser_page.evaluate("document.getElementById('table').textContent")
        browser_page.evaluate(
            f"""(() => {{
              const input = document.getElementById("{slider}");
              input.value = "{value}";
              input.dispatchEvent(new Event("input", {{bubbles: true}}));
            }})()"""
        )
        after = browser_page.evaluate(CANVAS_HASHES)
        moved = {name for name in CANVASES if after[name] != before[name]}
        assert moved == set(changed), f"slider {slider}: panels {moved} changed, not {changed}"
        assert browser_page.evaluate("document.getElementById('table').textContent") != table
        before = after
    assert browser_page.errors() == []


def test_clicking_a_panel_moves_theta(browser_page, page_file):
    browser_page.open(page_file)
    box = browser_page.evaluate(
        "(() => { const r = document.getElementById('metagrad').getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser_page.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
        )
    theta = browser_page.evaluate("toyExplorer.readState().theta")
    assert theta == pytest.approx([0.5, 0.5], abs=0.05)


def test_page_formulas_match_the_core_at_new_settings(browser_page, page_file):
    browser_page.open(page_file)
    for state in page.random_states(4, torch.Generator().manual_seed(2024)):
        got = browser_page.evaluate(f"toyExplorer.compute({json.dumps(asdict(state))})")
        core = page.core_numbers(state)
        for key in ("maml", "fomaml", "reptile", "hfmaml", "imaml", "imamlMatched", "phiStar"):
            torch.testing.assert_close(
                torch.tensor(got[key]), torch.tensor(core[key]), rtol=page.TOLERANCE, atol=1e-9
            )
        torch.testing.assert_close(torch.tensor(got["path"]), torch.tensor(core["path"]))
        assert got["firstOrder"]["relative"] == pytest.approx(core["firstOrderRelative"], rel=1e-12)
    assert browser_page.errors() == []
