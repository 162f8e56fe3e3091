"""Write tests/data/minilm_reference.json: MiniLM vectors of a few varied sentences,
made with the implementation of the day, so a new implementation of the forward pass
can be checked against them (tests/test_embeddings.py).

Run: python scripts/make_embedding_reference.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tria_graph.adapters.embeddings import LocalEmbeddings  # noqa: E402

SENTENCES = [
    "hi",
    "Do you deliver to Jurong on Saturdays?",
    "I want to order 20 cartons of 8oz paper cups, same as last time.",
    "Eh boss, can help me check my invoice or not? Last week one still never come leh.",
    "Wah the bubble tea cups all leak lah, can return or not ah?",
    "Order #TR-2026-00451: 3 x 500ml PP containers @ $42.50/carton, GST 9% = $138.98",
    "Call me at +65 9123 4567 before 2:00 PM, 23/11/2026.",
    "Je voudrais commander des gobelets en papier — merci beaucoup!",
    "我想订购一百个外卖盒，谢谢 🙏 and some kraft bags 😊",
    "Café crème, naïve façade, Ångström — ümlauts & ligatures ﬁ",
    "",
    # Longer than the model's 256 tokens: checks truncation.
    " ".join(
        [
            "Our hawker stall at Maxwell Food Centre goes through a lot of packaging every day,",
            "so we are looking for a supplier who can deliver biodegradable bowls, lids, cutlery,",
            "paper bags and cups on a weekly schedule, with invoices sent to our accountant.",
        ]
        * 6
    ),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as models:
        model = LocalEmbeddings(Path(models))
        vectors = model.embed_documents(SENTENCES)
    out = ROOT / "tests" / "data" / "minilm_reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    records = [{"text": t, "vector": [round(x, 6) for x in v]} for t, v in zip(SENTENCES, vectors)]
    out.write_text(json.dumps({"model": "all-MiniLM-L6-v2", "made_with": "onnxruntime export", "sentences": records}, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} vectors to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
