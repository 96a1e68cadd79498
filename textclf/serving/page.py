"""GET / of the server: one page to try the model by hand, everything inline (no CDN, no external file).

The answer comes first: the predicted label and its probability, large, then bars for the top
labels (a multi-label model: its chosen set, marked, and every label's bar), from POST /predict.
Under it, the words that drove the answer, shaded by their weight, from POST /explain. Beside it,
the model's card (data, test score, the baseline's, labels, date of training) and, as chips that
fill the box and classify, a few of the model's own validation examples stored in its checkpoint.
``?text=...`` in the address fills the box and classifies at once, so a prediction can be linked
to (and the page tested in a headless browser).

The card and chips are written here with every value escaped; the script puts labels, words and
error messages into the page as text nodes, never as HTML, so no text can inject markup.
"""

from __future__ import annotations

from html import escape
from string import Template
from typing import Any

from textclf.reporting.summary import headline_key

# string.Template ($name), not str.format: the CSS and script are full of braces. So no "$" in them.
PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textclf: $model</title>
<style>
  * { box-sizing: border-box; }
  body { font: 16px/1.45 system-ui, sans-serif; margin: 0; color: #1f2430; background: #f4f5f8; }
  main { max-width: 62rem; margin: 0 auto; padding: 1.2rem 1rem 2rem; display: grid;
         grid-template-columns: minmax(0, 1fr) 15rem; gap: 1rem 1.5rem; align-items: start; }
  header { grid-column: 1 / -1; } h1 { margin: 0; font-size: 1.7rem; }
  h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: #6b7280; margin: 0 0 .6rem; }
  .sub, small, .note { color: #6b7280; } .sub { margin: .1rem 0 0; }
  .panel { background: #fff; border: 1px solid #e3e6ec; border-radius: 10px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
  textarea { width: 100%; font: inherit; padding: .5rem .6rem; border: 1px solid #c8cfda; border-radius: 6px; resize: vertical; }
  .chips { display: flex; flex-wrap: wrap; gap: .4rem; margin: .5rem 0 .7rem; }
  .chip { font: inherit; font-size: .82rem; max-width: 100%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
          border: 1px solid #c8cfda; background: #f7f9fc; color: #334155; border-radius: 999px; padding: .15rem .7rem; cursor: pointer; }
  .chip:hover { border-color: #3b6fb6; }
  .go { font: inherit; font-weight: 600; color: #fff; background: #3b6fb6; border: 0; border-radius: 6px; padding: .45rem 1.5rem; cursor: pointer; margin-right: .6rem; }
  .go:disabled { background: #8ea9d3; cursor: progress; }
  .headline { display: flex; align-items: baseline; gap: .8rem; flex-wrap: wrap; margin-bottom: .6rem; }
  .verdict { font-size: 2.3rem; font-weight: 700; line-height: 1.1; overflow-wrap: anywhere; }
  .certainty { font-size: 1.4rem; color: #3b6fb6; font-weight: 600; font-variant-numeric: tabular-nums; }
  .row { display: grid; grid-template-columns: 9rem 1fr 4.5rem; gap: .6rem; align-items: center; margin: .3rem 0; }
  .track { background: #edf0f5; height: .9rem; border-radius: 4px; overflow: hidden; }
  .bar { background: #3b6fb6; height: 100%; }
  .name { overflow-wrap: anywhere; } .pct { text-align: right; font-variant-numeric: tabular-nums; }
  .words { line-height: 2.1; font-size: 1.05rem; }
  .word { padding: .15rem .2rem; border-radius: 3px; } .slot { display: block; line-height: 1.6; margin: .15rem 0; }
  .note { font-size: .88rem; margin: 0 0 .5rem; }
  dl { margin: 0; } dt { font-size: .75rem; color: #6b7280; } dd { margin: 0 0 .65rem; font-weight: 600; overflow-wrap: anywhere; }
  dd small { display: block; font-weight: 400; font-size: .8rem; }
  .chips small { flex-basis: 100%; }
  #error { color: #b00020; margin: 0 0 1rem; } [hidden] { display: none !important; }
  @media (max-width: 46rem) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<main>
<header><h1>$model</h1><p class="sub">$subtitle</p></header>
<section>
  <form id="form" class="panel">
    <textarea id="text" rows="$rows" placeholder="$placeholder" aria-label="the text to classify"></textarea>
    $examples
    <button type="submit" class="go" id="go">Classify</button><small>$hint</small>
  </form>
  <p id="error"></p>
  <div id="output" hidden>
    <div class="panel"><h2>The answer</h2><div class="headline" id="answer"></div><div id="result"></div></div>
    <div class="panel"><h2>What drove it</h2><p class="note" id="method"></p><div class="words" id="words"></div></div>
  </div>
</section>
<aside class="panel"><h2>The model</h2><dl id="card">$card</dl><small>API: <a href="docs">/docs</a>, <a href="metadata">/metadata</a></small></aside>
</main>
<script>
const form = document.getElementById("form"), box = document.getElementById("text"), go = document.getElementById("go");
const output = document.getElementById("output"), error = document.getElementById("error");
const answer = document.getElementById("answer"), result = document.getElementById("result");
const method = document.getElementById("method"), words = document.getElementById("words");
const TOP_K = $top_k;
// What each salience measure means (textclf/models/salience.py), said to the person reading the shading.
const METHODS = {
  "attention": "Shaded by the model's attention: how much of each word's state went into the text's vector.",
  "max share": "Shaded by max share: the share of the pooled features each word supplied.",
  "occlusion": "Shaded by occlusion: how far the probability of the answer falls when the word is hidden. Blue words argued for it, red ones against.",
  "hop attention": "Shaded by the memory network's attention at its last hop: the sentences it read the answer from.",
};
const LINEAR = " Saved under linear start, its attention is raw scores: red ones are below zero.";

function node(tag, className, text) {
  const made = document.createElement(tag);
  made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}
const percent = p => (100 * p).toFixed(1) + " %";

async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const answered = await response.json();
  if (!response.ok) throw new Error(answered.error || response.statusText);
  return answered;
}

function barRow(item, chosen) {
  const row = node("div", "row"), track = node("div", "track"), bar = node("div", "bar");
  bar.style.width = (100 * item.probability).toFixed(1) + "%";
  track.append(bar);
  row.append(node("span", "name", (chosen ? "\u2713 " : "") + item.label), track, node("span", "pct", percent(item.probability)));
  return row;
}

function showPrediction(first) {
  // A multi-label model answers every label's probability and the set above threshold (marked).
  const items = first.top_k || Object.entries(first.probabilities).map(([label, probability]) => ({label, probability}))
                                      .sort((a, b) => b.probability - a.probability);
  const chosen = new Set(first.labels || []);
  if (first.labels) {
    answer.replaceChildren(node("span", "verdict", first.labels.join(", ") || "no label"),
                           node("span", "note", chosen.size + " of " + items.length + " labels at or above their thresholds"));
  } else {
    answer.replaceChildren(node("span", "verdict", first.label), node("span", "certainty", percent(first.probability)));
  }
  result.replaceChildren(...items.map(item => barRow(item, chosen.has(item.label))));
}

function showWords(found) {
  method.textContent = (METHODS[found.method] || found.method) + (found.signed && found.method !== "occlusion" ? LINEAR : "");
  // Shade relative to the strongest word, so the one that counted most is always clearly seen.
  const top = Math.max(1e-9, ...found.weights.map(Math.abs));
  words.replaceChildren();
  found.words.forEach((word, i) => {
    const weight = found.weights[i], span = node("span", found.method === "hop attention" ? "word slot" : "word", word);
    const hue = weight < 0 ? "200, 55, 45" : "59, 111, 182";
    span.style.backgroundColor = "rgba(" + hue + ", " + (0.75 * Math.abs(weight) / top).toFixed(3) + ")";
    span.title = (found.signed && weight > 0 ? "+" : "") + weight.toFixed(3);
    words.append(span, " ");
  });
  if (!found.words.length) method.textContent = "No words to weigh: the text is empty.";
}

async function classify() {
  error.textContent = "";
  go.disabled = true;
  go.textContent = "Classifying\u2026";
  try {
    const [predicted, explained] = await Promise.allSettled([
      post("predict", {texts: [box.value], top_k: TOP_K}), post("explain", {text: box.value})]);
    if (predicted.status === "rejected") {
      output.hidden = true;
      error.textContent = predicted.reason.message;
      return;
    }
    showPrediction(predicted.value.predictions[0]);
    if (explained.status === "fulfilled") showWords(explained.value);
    else { words.replaceChildren(); method.textContent = "No explanation: " + explained.reason.message; }
    output.hidden = false;
  } finally {
    go.disabled = false;
    go.textContent = "Classify";
  }
}
const run = () => classify().catch(err => { error.textContent = String(err); });
form.addEventListener("submit", event => { event.preventDefault(); run(); });
for (const chip of document.querySelectorAll(".chip")) chip.addEventListener("click", () => { box.value = chip.dataset.text; run(); });
const given = new URLSearchParams(location.search).get("text");
if (given !== null) { box.value = given; run(); }
</script>
</body>
</html>
""")


def page(meta: dict[str, Any], top_k: int) -> str:
    """The page of the model ``meta`` describes (`Classifier.metadata()`); it shows up to ``top_k`` labels."""
    examples = meta.get("examples") or []
    if meta["stories"]:
        hint, placeholder = "A story: numbered lines, ending with one question line.", "1 Mary went to the kitchen.\n2 Where is Mary?"
    else:
        hint, placeholder = "One text.", "A text to classify"
    if examples:
        placeholder = examples[0]["text"]
    labels = len(meta["labels"])
    subtitle = " \u00b7 ".join([data_name(meta), f"{labels} labels"] + (["multi-label"] if meta["multi_label"] else []))
    return PAGE.substitute(
        model=escape(meta["model"]), subtitle=escape(subtitle), hint=escape(hint), placeholder=escape(placeholder),
        examples=chips(examples), card=card(meta), top_k=min(labels, top_k), rows=6 if meta["stories"] else 3,
    )


def chips(examples: list[dict[str, str]]) -> str:
    """The validation examples as buttons that fill the box (their text in an escaped attribute)."""
    if not examples:
        return ""
    buttons = "".join(
        f'<button type="button" class="chip" data-text="{escape(ex["text"])}" title="gold label: {escape(ex["label"])}">{escape(ex["text"])}</button>'
        for ex in examples
    )
    return f'<div class="chips" id="examples"><small>Try one from its validation data:</small>{buttons}</div>'


def card(meta: dict[str, Any]) -> str:
    """The model's facts as <dt>/<dd> pairs, every value escaped."""
    rows = []
    for name, value, aside in facts(meta):
        more = f" <small>{escape(aside)}</small>" if aside else ""
        rows.append(f"<dt>{escape(name)}</dt><dd>{escape(value)}{more}</dd>")
    return "".join(rows)


def facts(meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, value, aside) rows of the card: the model, its data, its test score and macro-F1
    (validation's where the run's results.json is not beside the checkpoint), the baseline's on
    the same split, the labels and the date. A fact the checkpoint lacks is left out."""
    rows = [("Model", meta["model"], ""), ("Data", data_name(meta), "")]
    split, scores = ("test", meta["test_metrics"]) if meta.get("test_metrics") else ("val", meta.get("metrics") or {})
    key = headline_key(scores, f"{split}_")
    score = f"{'test' if split == 'test' else 'validation'} {'micro-F1' if key.endswith('micro_f1') else 'accuracy'}"
    if key in scores:
        rows.append((score.capitalize(), percent(scores[key]), ""))
    if f"{split}_macro_f1" in scores:
        rows.append(("Macro-F1", percent(scores[f"{split}_macro_f1"]), ""))
    baseline = meta.get("baseline") or {}
    if headline_key(baseline, f"baseline_{split}_") in baseline:
        rows.append((f"Baseline {score}", percent(baseline[headline_key(baseline, f"baseline_{split}_")]), baseline["baseline"]))
    rows.append(("Labels", str(len(meta["labels"])), ""))
    if meta.get("trained_at"):
        rows.append(("Trained", meta["trained_at"][:10], ""))
    return rows


def data_name(meta: dict[str, Any]) -> str:
    """The data's one-line description, or for an older checkpoint without one its reader's name."""
    return meta.get("data_description") or str(meta["data"].get("_target_", "data")).rsplit(".", 1)[-1]


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"
