"""bench/chart.py: the SVG chart written beside each bench/run results
table (issue 15 part 4).  A small results file in bench/run's JSON form
goes through the CLI; the SVG must be XML with one bar per (setup, app,
connections, metric) carrying the input's value, and must render to a
PNG (rsvg-convert) that shows every setup's colour."""
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from pyworker_t import png

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(REPO, "bench", "chart.py")
NS = {"svg": "http://www.w3.org/2000/svg"}
COLOURS = {"static": (0x99, 0x99, 0x99), "pyworker": (0x00, 0x72, 0xB2),
           "wsgi-daemon": (0xE6, 0x9F, 0x00),
           "pyworker-before": (0x56, 0xB4, 0xE9)}

# (setup, app, conns) -> (requests/s, p99 ms).  static serves no post64k;
# hello's p99 spans 3 decades (log axis), post64k's does not.
CELLS = {
    ("static", "hello", 10): (21122.5, 2.37),
    ("static", "hello", 100): (18218.0, 71.48),
    ("pyworker", "hello", 10): (13761.25, 1.74),
    ("pyworker", "hello", 100): (15783.0, 20.52),
    ("wsgi-daemon", "hello", 10): (7287.0, 3.49),
    ("wsgi-daemon", "hello", 100): (6300.0, 1250.0),
    ("pyworker-before", "hello", 10): (12000.0, 1.9),
    ("pyworker-before", "hello", 100): (14000.0, 22.0),
    ("pyworker", "post64k", 10): (3812.0, 41.55),
    ("pyworker", "post64k", 100): (3700.5, 60.0),
    ("wsgi-daemon", "post64k", 10): (1889.0, 90.48),
    ("wsgi-daemon", "post64k", 100): (1700.0, 120.0),
    ("pyworker-before", "post64k", 10): (3600.0, 44.0),
    ("pyworker-before", "post64k", 100): (3500.0, 66.0),
}
METRICS = ("rps", "p99_ms")


def results():
    cells = [dict(setup=s, app=a, conns=c,
                  median=dict(rounds=3, rps=rps, p99_ms=p99, p50_ms=1.0),
                  rounds=[]) for (s, a, c), (rps, p99) in sorted(CELLS.items())]
    meta = dict(timestamp="20261201-102030", quick=False, rounds=3,
                duration=4, connections=[10, 100], apps=["hello", "post64k"],
                machine=dict(nproc=2, cpu="AMD EPYC", kernel="6.18.44",
                             apache="Apache/2.4.71 (Debian)"),
                setups={"static": "ok", "pyworker": "ok",
                        "wsgi-daemon": "ok", "pyworker-before": "ok"})
    return dict(meta=meta, cells=cells, memory={}, targets=[])


@pytest.fixture(scope="module")
def svg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("chart") / "20261201-102030.json"
    path.write_text(json.dumps(results(), indent=1))
    r = subprocess.run(["/usr/bin/python3", CHART, str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    svg = path.with_suffix(".svg")
    assert r.stdout.strip() == str(svg)
    return svg


def bars(root):
    return root.findall(".//svg:rect[@class='bar']", NS)


def texts(root):
    return [t.text for t in root.iter("{%s}text" % NS["svg"])]


def test_one_bar_per_cell_and_metric_with_its_value(svg_file):
    root = ET.parse(str(svg_file)).getroot()
    seen = {}
    for b in bars(root):
        key = (b.get("data-setup"), b.get("data-app"),
               int(b.get("data-conns")), b.get("data-metric"))
        assert key not in seen, "two bars for %r" % (key,)
        seen[key] = float(b.get("data-value"))
        title = b.find("svg:title", NS).text
        assert "%s @%d" % (key[1], key[2]) in title and key[0] in title
    want = dict(((s, a, c, m), v[i]) for (s, a, c), v in CELLS.items()
                for i, m in enumerate(METRICS))
    assert seen == want


def test_bar_heights_follow_the_values(svg_file):
    """Within one panel a larger value draws a taller bar."""
    root = ET.parse(str(svg_file)).getroot()
    for app in ("hello", "post64k"):
        for metric in METRICS:
            hs = sorted((float(b.get("data-value")), float(b.get("height")))
                        for b in bars(root) if b.get("data-app") == app
                        and b.get("data-metric") == metric)
            assert all(h > 0 for _, h in hs)
            assert [h for _, h in hs] == sorted(h for _, h in hs), hs


def test_title_legend_axes_and_units(svg_file):
    words = "\n".join(texts(ET.parse(str(svg_file)).getroot()))
    for want in ("run 2026-12-01 10:20:30", "2 CPUs AMD EPYC",
                 "Apache/2.4.71", "A static", "B pyworker", "C wsgi-daemon",
                 "B1 pyworker-before", "requests/s", "ms (log scale)",
                 "wrk connections", "hello: median requests/s",
                 "post64k: median p99 latency, ms"):
        assert want in words, want
    # post64k's p99 spans under 20x: a linear axis starting at 0.
    assert words.count("ms (log scale)") == 1


def test_renders_to_a_png_with_every_setup_colour(svg_file):
    if not shutil.which("rsvg-convert"):
        pytest.skip("rsvg-convert missing (Debian librsvg2-bin)")
    out = svg_file.with_suffix(".png")
    subprocess.run(["rsvg-convert", "-w", "500", "-o", str(out),
                    str(svg_file)], check=True, timeout=60)
    width, height, rows = png.read_rgb(str(out))
    assert width == 500 and height > 200
    counts = {}
    for row in rows:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    white = counts.get((255, 255, 255), 0)
    assert white < 0.95 * width * height, "blank picture"
    for setup, rgb in COLOURS.items():
        assert counts.get(rgb, 0) > 20, "no %s bars drawn" % setup


def test_refuses_a_file_that_is_not_a_bench_run_table(tmp_path):
    path = tmp_path / "x-startup.json"
    path.write_text(json.dumps({"meta": {}, "summary": {}}))
    r = subprocess.run(["/usr/bin/python3", CHART, str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "not a bench/run results file" in r.stderr
    assert not path.with_suffix(".svg").exists()
