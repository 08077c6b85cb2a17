"""A val split whose monitored score reaches 1 cannot choose the epoch: runs and summaries say so."""

from __future__ import annotations

from sigattn.train.saturation import saturated, saturation_note

HISTORY = [
    {"epoch": 0, "val_loss": 0.30, "val_macro_f1": 0.97},
    {"epoch": 1, "val_loss": 0.05, "val_macro_f1": 1.0},
    {"epoch": 2, "val_loss": 0.01, "val_macro_f1": 1.0},
]


def test_a_perfect_score_saturates_and_the_note_names_the_first_perfect_epoch():
    assert saturated(HISTORY, "val_macro_f1")
    note = saturation_note(HISTORY, "val_macro_f1")
    assert note is not None and "\n" not in note
    assert note.startswith("validation saturated: val_macro_f1 = 1 at epoch 1 (2 of 3 epochs)")


def test_an_imperfect_score_or_the_loss_is_not_saturation():
    assert not saturated(HISTORY[:1], "val_macro_f1") and saturation_note(HISTORY[:1], "val_macro_f1") is None
    assert not saturated(HISTORY, "val_loss")
