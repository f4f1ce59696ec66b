"""Every public callable of the package has a `__doc__` that help() shows and that names each of its parameters."""
import importlib, inspect, pkgutil, re
import pytest
import adavipro

SKIP_PARAMS = {"self", "cls", "ctx"}
NOTEBOOK_ONLY = re.compile(r"section above|section below|see (the cell |the section )?(above|below)|the cell above",
                           re.IGNORECASE)
MODULES = sorted(m.name for m in pkgutil.iter_modules(adavipro.__path__) if m.name != "_modidx")


def _import(name):
    try: return importlib.import_module(f"adavipro.{name}")
    except (ImportError, adavipro.ConfigError) as e:   # an optional extra that is not installed
        pytest.skip(f"adavipro.{name} needs an optional extra: {e}")


def _own(obj, mod) -> bool: return getattr(obj, "__module__", None) == mod.__name__


def _params(fn) -> list[str]:
    try: sig = inspect.signature(fn)
    except (TypeError, ValueError): return []
    return [p.name for p in sig.parameters.values() if p.name not in SKIP_PARAMS
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _names_param(doc:str, name:str) -> bool: return re.search(rf"(?<![\w.]){re.escape(name)}\b", doc) is not None


def _problems(qual:str, obj, params) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if not doc.strip(): return [f"{qual}: no docstring"]
    out = [f"{qual}: docstring does not name parameter {p!r}" for p in params if not _names_param(doc, p)]
    if NOTEBOOK_ONLY.search(doc): out.append(f"{qual}: refers to a notebook-only section")
    return out


def _public_callables(mod):
    "(qualified name, object, parameters it must document) for each public function, class and method of `mod`."
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isfunction(obj) and _own(obj, mod): yield name, obj, _params(obj)
        elif inspect.isclass(obj) and _own(obj, mod):
            init = obj.__init__
            own_init = inspect.isfunction(init) and init.__module__.startswith("adavipro")
            yield name, obj, _params(obj) if own_init else []
            for mname, attr in vars(obj).items():
                if mname.startswith("_") and mname != "__call__": continue
                if isinstance(attr, (staticmethod, classmethod)): attr = attr.__func__
                if isinstance(attr, property): yield f"{name}.{mname}", attr.fget, []
                elif inspect.isfunction(attr): yield f"{name}.{mname}", attr, _params(attr)


@pytest.mark.parametrize("name", MODULES)
def test_public_callables_document_their_parameters(name):
    mod = _import(name)
    found, problems = 0, []
    for qual, obj, params in _public_callables(mod):
        found += 1
        problems += _problems(f"adavipro.{name}.{qual}", obj, params)
    assert not problems, "\n".join(problems)
    if getattr(mod, "__all__", None) and any(callable(getattr(mod, n)) for n in mod.__all__): assert found, name


def test_the_check_catches_an_undocumented_parameter():
    def documented(images, size):
        """Resize.

        Args:
            images: (B,3,H,W) uint8
            size: S
        """
    def undocumented(images, size, mode):
        """Resize.

        Args:
            images: (B,3,H,W) uint8
            size: S
        """
    assert _problems("documented", documented, _params(documented)) == []
    assert _problems("undocumented", undocumented, _params(undocumented)) == [
        "undocumented: docstring does not name parameter 'mode'"]
    def nb_only(x):
        "Doubles `x` (see the section above)."
    assert _problems("nb_only", nb_only, _params(nb_only)) == ["nb_only: refers to a notebook-only section"]


def test_forward_docstrings_give_shapes():
    "help() on the main modules' forward shows shapes and where they come from, not torch's generic text."
    from adavipro.adaptive import AdaViProPrompter
    from adavipro.model import PromptedClassifier, Preprocess
    from adavipro.prompters import PaddingPrompter
    for cls in (AdaViProPrompter, PromptedClassifier, Preprocess, PaddingPrompter):
        doc = inspect.getdoc(cls.forward)
        assert "(B,3," in doc and "Returns:" in doc and "Define the computation" not in doc, cls
    assert "eq. 5" in inspect.getdoc(AdaViProPrompter.forward) and "Source:" in inspect.getdoc(AdaViProPrompter)
