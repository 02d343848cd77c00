"""The phrases the results chapter builds from computed statistics."""

from clipneuron_utils.stats import reported


def test_correlation_phrase_reads_the_numbers():
    assert reported.correlation_phrase(-0.2, 0.001, 500) == "r = -0.200 (p = 0.001, n = 500): negative, significant at α = 0.05"
    assert "positive, not significant" in reported.correlation_phrase(0.05, 0.4, 30)
    assert reported.correlation_phrase(float("nan"), float("nan"), 2) == "not estimable (n = 2)"


def test_paper_figures_are_the_published_ones():
    assert reported.PAPER_MEAN_IOU_CLIP == {1: 0.19, 2: 0.21}
    assert reported.PAPER_WORDNET_DIFFERENCE == 0.0014
