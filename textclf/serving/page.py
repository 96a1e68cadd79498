"""GET / of the server: one small page to try the model by hand (no CDN, no external file).

A text box, a button, and the labels with probability bars, from POST /predict. ``?text=...``
in the address fills the box and classifies at once, so a prediction can be linked to (and the
page tested in a headless browser). Labels and texts go into the page as text nodes, never as
HTML, so a label or an error message cannot inject markup.
"""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textclf: {model}</title>
<style>
  body {{ font: 16px/1.4 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
  textarea {{ width: 100%; min-height: 6rem; font: inherit; box-sizing: border-box; }}
  button {{ font: inherit; margin: .5rem 0; padding: .3rem 1.2rem; }}
  .row {{ display: grid; grid-template-columns: 10rem 1fr 4.5rem; gap: .5rem; align-items: center; margin: .25rem 0; }}
  .track {{ background: #eee; height: 1rem; }}
  .bar {{ background: #3b6fb6; height: 100%; }}
  .name {{ overflow-wrap: anywhere; }} .pct {{ text-align: right; font-variant-numeric: tabular-nums; }}
  #error {{ color: #b00020; }} small {{ color: #666; }}
</style>
</head>
<body>
<h1>{model}</h1>
<p><small>{count} labels. {hint} The API is at <a href="docs">/docs</a>.</small></p>
<form id="form">
  <textarea id="text" placeholder="{placeholder}"></textarea>
  <button type="submit">Classify</button>
</form>
<p id="error"></p>
<div id="result"></div>
<script>
const form = document.getElementById("form"), box = document.getElementById("text");
const result = document.getElementById("result"), error = document.getElementById("error");
async function classify() {{
  error.textContent = "";
  result.replaceChildren();
  const response = await fetch("predict", {{method: "POST", headers: {{"content-type": "application/json"}},
                                            body: JSON.stringify({{texts: [box.value], top_k: {count}}})}});
  const answer = await response.json();
  if (!response.ok) {{ error.textContent = answer.error || response.statusText; return; }}
  const first = answer.predictions[0];
  // A multi-label model answers every label's probability and the set above threshold (marked).
  const items = first.top_k || Object.entries(first.probabilities).map(([label, probability]) => ({{label, probability}}))
                                      .sort((a, b) => b.probability - a.probability);
  const chosen = new Set(first.labels || []);
  for (const item of items) {{
    const row = document.createElement("div"); row.className = "row";
    const name = document.createElement("span"); name.className = "name";
    name.textContent = (chosen.has(item.label) ? "\u2713 " : "") + item.label;
    const track = document.createElement("div"); track.className = "track";
    const bar = document.createElement("div"); bar.className = "bar"; bar.style.width = (100 * item.probability).toFixed(1) + "%";
    const pct = document.createElement("span"); pct.className = "pct"; pct.textContent = (100 * item.probability).toFixed(1) + " %";
    track.append(bar); row.append(name, track, pct); result.append(row);
  }}
}}
form.addEventListener("submit", event => {{ event.preventDefault(); classify().catch(err => {{ error.textContent = String(err); }}); }});
const given = new URLSearchParams(location.search).get("text");
if (given !== null) {{ box.value = given; classify().catch(err => {{ error.textContent = String(err); }}); }}
</script>
</body>
</html>
"""


def page(model: str, labels: int, stories: bool, top_k: int) -> str:
    """The page for a model named ``model`` with ``labels`` classes; it shows up to ``top_k`` of them."""
    if stories:
        hint, placeholder = "Give a story: numbered lines, ending with one question line.", "1 Mary went to the kitchen.\n2 Where is Mary?"
    else:
        hint, placeholder = "Give one text.", "a gorgeous , witty film"
    return PAGE.format(model=escape(model), count=min(labels, top_k), hint=escape(hint), placeholder=escape(placeholder))
