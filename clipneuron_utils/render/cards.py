"""Neuron cards (the paper's Figure 6, with Goh et al.'s views): everything one unit's explanation rests on.

A card gathers, for one unit of one model: its best formula and IoU, its output weights to the three
classes (what it votes for when it fires), its top-activating probe pairs with gold label and prediction,
the conditional probability of the formula's concepts per activation level, and its full activation
spectrum — so a reader can judge the formula against the unit's whole range, not only its top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats import single_neurons
from . import tables, unit_plots
from ..data.snli import LABELS


@dataclass
class NeuronCard:
    encoder: str
    encoding: str
    neuron: int
    row: pd.Series  # the unit's search result at the card's max_length
    weights: pd.DataFrame  # output weight to each class
    top: pd.DataFrame  # top-activating pairs
    conditional: pd.DataFrame | None  # per activation bin × concept (None when unexplained)
    spectrum: pd.DataFrame
    regime_row: pd.Series | None = None  # the unit's search result at the firing regime nearest the paper's IoU
    regime_label: str = ""

    @property
    def anchor(self) -> str:
        return tables.card_anchor(self.encoder, self.neuron)

    @property
    def title(self) -> str:
        return f"{self.encoder} unit {self.neuron}"

    def header(self) -> str:
        r = self.row
        votes = self.weights.sort_values("weight", ascending=False).iloc[0]
        if not bool(r["explained"]):
            what = f"unexplained (fires on {int(r['n_fires'])} probe pairs, fewer than the search's minimum)"
        else:
            what = (f"`{r['formula']}` — IoU **{r['iou']:.3f}** (best single concept `{r['best_atom']}`, "
                    f"IoU {r['best_atom_iou']:.3f}); fires on {int(r['n_fires'])} probe pairs")
        if votes["weight"] > 0:
            vote = f"Its largest output weight is to **{votes['class']}** ({votes['weight']:+.3f}): firing, it pushes toward it."
        else:
            vote = (f"All its output weights are negative: firing, it pushes against every class, least against "
                    f"**{votes['class']}** ({votes['weight']:+.3f}).")
        regime = ""
        if self.regime_row is not None:
            g = self.regime_row
            regime = (f" At the firing regime nearest the paper's IoU (it fires on its {self.regime_label} of probe pairs, "
                      f"chapter 08_firing_regime): " + (f"`{g['formula']}`, IoU {g['iou']:.3f}, {g['excess_iou']:+.3f} over its "
                                         f"matched null." if bool(g["explained"]) else "unexplained."))
        return f"### {self.title} ({self.encoding} concepts, length ≤ {int(r['max_length'])})\n\n{what}. {vote}{regime}"

    def show(self) -> None:
        """Display the card in a notebook: header, weights, top pairs, and the two charts."""
        from IPython.display import Markdown, display

        # the card's link target, as an HTML-only output (nbval compares text, so the references stand)
        display({"text/html": f'<a id="{self.anchor}" class="clipneuron-card-anchor"></a>'}, raw=True)
        display(Markdown(self.header()))
        display(tables.compact(self.weights.set_index("class").T.rename_axis(columns=None), digits=3,
                               caption="output weight to each class"))
        display(tables.compact(self.top, wrap=True, caption="top-activating probe pairs"))
        if self.conditional is not None:
            display(unit_plots.conditional_probability(self.conditional, title=f"{self.title}: conditional probability"))
        display(unit_plots.activation_spectrum(self.spectrum, title=f"{self.title}: activation spectrum"))


def neuron_card(encoder: str, neuron: int, results: pd.DataFrame, acts: np.ndarray, probe: pd.DataFrame,
                pred: np.ndarray, concepts, output_weights: np.ndarray, *, encoding: str = "standard",
                max_length: int | None = None, top_k: int = 8, bin_width_sd: float = 0.5,
                regime: pd.DataFrame | None = None, regime_label: str = "") -> NeuronCard:
    """Build the card of ``neuron`` from the search ``results`` (one encoder, all encodings/lengths);
    ``regime``: the same model's rows at the firing regime nearest the paper's IoU, named ``regime_label``."""
    rows = results[(results["encoder"] == encoder) & (results["encoding"] == encoding) & (results["neuron"] == neuron)]
    if rows.empty:
        raise ValueError(f"no search result for {encoder} unit {neuron} with the {encoding} encoding")
    row = rows.loc[rows["max_length"].idxmax()] if max_length is None else rows[rows["max_length"] == max_length].iloc[0]
    unit = np.asarray(acts)[:, neuron]
    weights = pd.DataFrame({"class": list(LABELS), "weight": np.asarray(output_weights)[:, neuron].round(4)})
    conditional = None
    if bool(row["explained"]):
        masks = single_neurons.formula_concepts(row["formula"], concepts)
        conditional = single_neurons.conditional_probability(unit, masks, bin_width_sd)
    regime_row = None
    if regime is not None:
        at = regime[(regime["encoder"] == encoder) & (regime["encoding"] == encoding) & (regime["neuron"] == neuron)]
        if len(at):
            regime_row = at.loc[at["max_length"].idxmax()]
    return NeuronCard(
        encoder=encoder, encoding=encoding, neuron=int(neuron), row=row, weights=weights,
        regime_row=regime_row, regime_label=regime_label,
        top=single_neurons.top_activating(unit, probe, pred, k=top_k),
        conditional=conditional,
        spectrum=single_neurons.activation_spectrum(unit, probe, pred, bin_width_sd=bin_width_sd),
    )


def extremes(results: pd.DataFrame, encoder: str, encoding: str = "standard", n: int = 1,
             max_length: int | None = None) -> dict[str, list[int]]:
    """The ``n`` most and least explainable units of a model (by best IoU; ties by unit index)."""
    frame = results[(results["encoder"] == encoder) & (results["encoding"] == encoding) & results["explained"]]
    frame = frame[frame["max_length"] == (frame["max_length"].max() if max_length is None else max_length)]
    ranked = frame.sort_values(["iou", "neuron"], ascending=[False, True])["neuron"].astype(int).tolist()
    most = ranked[:n]
    least = [u for u in ranked[::-1] if u not in most][:n]
    return {"most": most, "least": least}
