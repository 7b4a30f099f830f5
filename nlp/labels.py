"""The label set of ../shared/LABELLING.md: identifiers, display names, record checks."""
from __future__ import annotations

CAUSES: tuple[str, ...] = ("phone_menu_delay", "missing_rep", "faulty_device", "lack_of_information")
OTHER = "other"
ATTEMPTED, NOT_ATTEMPTED = "attempted", "not_attempted"
RECOVERY_VALUES: tuple[str, ...] = (ATTEMPTED, NOT_ATTEMPTED)
#: Columns of the label matrix a model is trained on: the four causes, then recovery.
LABELS: tuple[str, ...] = CAUSES + ("recovery",)

DISPLAY_RU: dict[str, str] = {
    "phone_menu_delay": "Ожидание и телефонное меню",
    "missing_rep": "Нет ответственного сотрудника",
    "faulty_device": "Неисправное устройство",
    "lack_of_information": "Нехватка информации",
    OTHER: "Другое",
}


def record_problems(rec: object) -> list[str]:
    """What is wrong with one labelled record (empty list: it is valid).

    >>> record_problems({"text": "Не дозвониться", "is_complaint": True,
    ...                  "root_causes": ["phone_menu_delay"], "recovery": "attempted"})
    []
    >>> record_problems({"text": "", "is_complaint": False, "root_causes": ["x"], "recovery": "no"})[0]
    'text is empty'
    """
    if not isinstance(rec, dict):
        return ["not a JSON object"]
    problems = []
    text = rec.get("text")
    if not isinstance(text, str):
        problems.append("text is missing or not a string")
    elif not text.strip():
        problems.append("text is empty")
    is_complaint = rec.get("is_complaint")
    if not isinstance(is_complaint, bool):
        problems.append("is_complaint must be true or false")
    causes = rec.get("root_causes")
    if not isinstance(causes, list):
        problems.append("root_causes must be a list")
    else:
        unknown = [c for c in causes if c not in CAUSES]
        if unknown:
            problems.append(f"unknown root cause(s) {unknown}; allowed: {list(CAUSES)} (empty list = other)")
        if len(set(map(str, causes))) != len(causes):
            problems.append("root_causes repeats a cause")
        if is_complaint is False and causes:
            problems.append("a non-complaint must have no root causes")
    if rec.get("recovery") not in RECOVERY_VALUES:
        problems.append(f"recovery must be one of {list(RECOVERY_VALUES)}")
    return problems
