"""The classifier's label ids, in the order of the product specification."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "homework_burden",
    "unlicensed_tutoring",
    "fees_refund",
    "teacher_paid_tutoring",
    "after_school_service",
    "other",
)
