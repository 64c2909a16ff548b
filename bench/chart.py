#!/usr/bin/python3
"""SVG chart of a bench/run results file: per app, requests/s and p99
latency as bars grouped by wrk connection count, one bar per setup.

    bench/chart.py results/X.json [...]   writes results/X.svg beside each

bench.py calls render_svg() on the data it writes as X.json.  Standard
library only; every bar carries data-setup / data-app / data-conns /
data-metric / data-value attributes and a <title> (the exact median), so
the picture can be checked and read without a plotting library.
"""

import json
import math
import os
import sys
import time
from xml.sax.saxutils import escape, quoteattr

WIDTH = 1000
MARGIN = 20
TOP = 92                    # title lines and legend
PANEL_H = 250
PANEL_GAP = 40
BAR_MAX_W = 60
PLOT = dict(left=62, right=12, top=28, bottom=44)   # inside a panel
FONT = 'DejaVu Sans, Verdana, sans-serif'
# Setups in bench.py's order, with its letters.  'pyworker-NAME' setups
# (--pyworker-module) get B1, B2, ... in the order of the run.
LETTERS = {'static': 'A', 'pyworker': 'B', 'wsgi-daemon': 'C',
           'wsgi-embedded': 'D', 'uwsgi': 'E'}
# Okabe-Ito colours (told apart with colour blindness); static in grey.
COLOURS = {'static': '#999999', 'pyworker': '#0072B2',
           'wsgi-daemon': '#E69F00', 'wsgi-embedded': '#009E73',
           'uwsgi': '#CC79A7'}
EXTRA_COLOURS = ['#56B4E9', '#D55E00', '#F0E442', '#000000']
METRICS = [('rps', 'requests/s', 'median requests/s (higher is better)'),
           ('p99_ms', 'ms', 'median p99 latency, ms (lower is better)')]
LOG_RATIO = 20.0            # p99 spans wider than this: log scale


class ChartError(Exception):
    pass


# ---------------------------------------------------------------- data

def setup_order(data):
    """Setups that have at least one measured cell, in the run's order."""
    measured = set(c['setup'] for c in data['cells'] if c.get('median'))
    listed = list(data['meta'].get('setups') or [])
    rest = sorted(measured - set(listed))
    return [s for s in listed + rest if s in measured]


def setup_styles(setups):
    """{setup: (label, colour)}."""
    styles, extra = {}, 0
    for name in setups:
        if name in LETTERS:
            styles[name] = ('%s %s' % (LETTERS[name], name), COLOURS[name])
        else:
            colour = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
            styles[name] = ('B%d %s' % (extra, name), colour)
    return styles


def table(data):
    """{(app, conns, setup): median dict}, apps and connection counts."""
    cells = dict(((c['app'], c['conns'], c['setup']), c['median'])
                 for c in data['cells'] if c.get('median'))
    if not cells:
        raise ChartError('no measured cells')
    meta = data['meta']
    apps = [a for a in meta.get('apps') or [] if any(k[0] == a for k in cells)]
    apps += sorted(set(k[0] for k in cells) - set(apps))
    conns = sorted(set(k[1] for k in cells))
    return cells, apps, conns


# ---------------------------------------------------------------- scales

def nice_step(span, count=5):
    raw = span / float(count)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def linear_scale(values):
    """(to_unit, ticks, log?): to_unit maps a value to 0..1 of the axis."""
    top = max(values) or 1.0
    step = nice_step(top)
    hi = math.ceil(top / step) * step
    ticks = [i * step for i in range(int(round(hi / step)) + 1)]
    return (lambda v: v / hi), ticks, False


def log_scale(values):
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    span = math.log10(hi / lo)
    ticks, decade = [], lo
    while decade <= hi * 1.0001:
        ticks.append(decade)
        decade *= 10
    return (lambda v: math.log10(max(v, lo) / lo) / span), ticks, True


def scale_for(metric, values):
    positive = [v for v in values if v > 0]
    if metric == 'p99_ms' and positive and \
            max(positive) / min(positive) > LOG_RATIO:
        return log_scale(positive)
    return linear_scale(values)


def fmt_tick(v, metric):
    if metric == 'rps' and v >= 1000:
        k = v / 1000.0
        return '%gk' % round(k, 1)
    return '%g' % round(v, 3)


def fmt_value(v, metric):
    if metric == 'rps':
        return '{:,.0f} requests/s'.format(v)
    return '%.2f ms' % v


# ---------------------------------------------------------------- drawing

def text(x, y, s, size=12, anchor='start', extra=''):
    return ('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s"%s>%s'
            '</text>' % (x, y, size, anchor, extra, escape(str(s))))


def panel(x0, y0, w, app, metric, cells, conns, setups, styles):
    """One panel's SVG lines: axes, ticks, grouped bars."""
    key, unit, label = [m for m in METRICS if m[0] == metric][0]
    values = [cells[(app, c, s)][key] for c in conns for s in setups
              if (app, c, s) in cells]
    to_unit, ticks, is_log = scale_for(key, values)
    px, py = x0 + PLOT['left'], y0 + PLOT['top']
    pw = w - PLOT['left'] - PLOT['right']
    ph = PANEL_H - PLOT['top'] - PLOT['bottom']
    out = ['<g class="panel" data-app=%s data-metric="%s">'
           % (quoteattr(app), key),
           text(x0 + w / 2.0, y0 + 16, '%s: %s' % (app, label), 13,
                'middle', ' font-weight="bold"')]
    out += axes(px, py, pw, ph, ticks, to_unit, key,
                unit + (' (log scale)' if is_log else ''))
    group_w = pw / float(len(conns))
    for i, c in enumerate(conns):
        gx = px + i * group_w
        out.append(text(gx + group_w / 2.0, py + ph + 16, c, 11, 'middle'))
        out += bars(gx, py, group_w, ph, app, c, key, cells, setups, styles,
                    to_unit)
    out.append(text(px + pw / 2.0, py + ph + 34,
                    'wrk connections (keep-alive, 127.0.0.1)', 11, 'middle'))
    out.append('</g>')
    return out


def axes(px, py, pw, ph, ticks, to_unit, key, unit):
    out = ['<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" '
           'stroke="#444"/>' % (px, py, pw, ph)]
    for t in ticks:
        y = py + ph - to_unit(t) * ph
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="#ddd"/>' % (px, y, px + pw, y))
        out.append(text(px - 5, y + 4, fmt_tick(t, key), 10, 'end'))
    mid = py + ph / 2.0
    out.append(text(px - 48, mid, unit, 11, 'middle',
                    ' transform="rotate(-90 %.1f %.1f)"' % (px - 48, mid)))
    return out


def bars(gx, py, group_w, ph, app, conns, key, cells, setups, styles,
         to_unit):
    present = [s for s in setups if (app, conns, s) in cells]
    bar_w = min(group_w * 0.8 / max(len(present), 1), BAR_MAX_W)
    left = gx + (group_w - bar_w * len(present)) / 2.0     # centred
    out = []
    for j, s in enumerate(present):
        v = float(cells[(app, conns, s)][key])
        h = max(to_unit(v), 0.0) * ph
        x = left + j * bar_w
        label, colour = styles[s]
        out.append(
            '<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
            'fill="%s" data-setup=%s data-app=%s data-conns="%d" '
            'data-metric="%s" data-value="%r"><title>%s</title></rect>'
            % (x, py + ph - h, max(bar_w - 1, 1), h, colour, quoteattr(s),
               quoteattr(app), conns, key, v,
               escape('%s, %s @%d: %s' % (label, app, conns,
                                          fmt_value(v, key)))))
    return out


def legend(y, setups, styles):
    out, x = [], MARGIN
    for s in setups:
        label, colour = styles[s]
        out.append('<rect x="%d" y="%d" width="14" height="14" fill="%s"/>'
                   % (x, y - 11, colour))
        out.append(text(x + 19, y, label, 12))
        x += 19 + 8 * len(label) + 22
    return out


# ---------------------------------------------------------------- page

def run_date(meta):
    try:
        t = time.strptime(meta['timestamp'][:15], '%Y%m%d-%H%M%S')
        return time.strftime('%Y-%m-%d %H:%M:%S', t)
    except (KeyError, ValueError):
        return meta.get('timestamp', '?')


def subtitle(meta):
    m = meta.get('machine') or {}
    parts = ['run %s' % run_date(meta),
             '%s CPUs %s' % (m.get('nproc', '?'), m.get('cpu', '?')),
             'Linux %s' % m.get('kernel', '?')]
    if m.get('apache'):
        parts.append(m['apache'])
    rounds = meta.get('rounds', '?')
    parts.append('%s s x %s round%s%s' % (
        meta.get('duration', '?'), rounds, '' if rounds == 1 else 's',
        ', quick smoke' if meta.get('quick') else ''))
    return ' | '.join(parts)


def render_svg(data):
    """SVG text for a bench/run results dict (the X.json content)."""
    if 'cells' not in data or 'meta' not in data:
        raise ChartError('not a bench/run results file (no meta and cells)')
    cells, apps, conns = table(data)
    setups = setup_order(data)
    styles = setup_styles(setups)
    panel_w = (WIDTH - 2 * MARGIN - PANEL_GAP) / 2.0
    height = TOP + len(apps) * (PANEL_H + 10) + MARGIN
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="%s">'
           % (WIDTH, height, WIDTH, height, FONT),
           '<rect width="100%" height="100%" fill="white"/>',
           text(MARGIN, 26, 'mod_pyworker benchmark: requests/s and p99 '
                'latency per setup and connection count', 16, 'start',
                ' font-weight="bold"'),
           text(MARGIN, 46, subtitle(data['meta']), 12, 'start',
                ' fill="#333"')]
    out += legend(74, setups, styles)
    for i, app in enumerate(apps):
        y = TOP + i * (PANEL_H + 10)
        for j, (key, _, _) in enumerate(METRICS):
            x = MARGIN + j * (panel_w + PANEL_GAP)
            out += panel(x, y, panel_w, app, key, cells, conns, setups,
                         styles)
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def svg_path(json_path):
    return os.path.splitext(json_path)[0] + '.svg'


def main(argv):
    if not argv or argv[0] in ('-h', '--help'):
        sys.stderr.write('usage: bench/chart.py RESULTS.json [...]\n'
                         '  writes RESULTS.svg beside each\n')
        return 0 if argv else 2
    status = 0
    for path in argv:
        try:
            with open(path) as f:
                svg = render_svg(json.load(f))
        except (OSError, ValueError, KeyError, ChartError) as e:
            sys.stderr.write('chart: %s: %s\n' % (path, e))
            status = 1
            continue
        with open(svg_path(path), 'w') as f:
            f.write(svg)
        print(svg_path(path))
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
