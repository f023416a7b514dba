import formbound


def test_all_is_sorted_and_complete() -> None:
    assert formbound.__all__ == sorted(formbound.__all__)
    public = {n for n in dir(formbound) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(formbound, n)).__name__ == "module"}
    assert set(formbound.__all__) - {"__version__"} == public - modules
