"""HyperPyYAML that can only call allow-listed code: how a model folder's ``hyperparams.yaml`` is read.

HyperPyYAML builds objects by calling whatever its tags name (``!new:``, ``!apply:``, plain YAML
``!!python/...`` tags, ``!applyref:`` and ``!include:`` while references are resolved, and
PyYAML's unsafe loader on any ``(...)`` string, which it reads as a tuple). A model folder from a
stranger must not be able to use any of that, so :func:`load_safe_hparams` reads a file in two
guarded steps:

1. :func:`check_hparams_file` composes the file with the same YAML parser HyperPyYAML uses (so
   ``%TAG`` directives, ``%``-escapes and verbatim tags are seen as the parser sees them) and
   walks every node. Allowed: the plain YAML types, ``!ref``, ``!copy``, ``!tuple`` and
   ``!PLACEHOLDER``, and ``!new:`` / ``!apply:`` / ``!name:`` of a name in the allow-list. Anything
   else is refused with the file, the line and the tag. The size the document expands to
   (aliases and references included) is bounded, so an alias bomb is refused, not expanded.
2. The objects are then built by HyperPyYAML with a loader that has no Python constructors at
   all, whose ``!new:`` / ``!apply:`` / ``!name:`` refuse any name outside the allow-list at the
   moment they would call it, and whose tuples are read with a safe loader. So a trick step 1
   does not know (a string assembled by reference interpolation, say) still cannot run code.

Authors
 * speechbrain_diffa contributors 2026
"""

import io
import re

import ruamel.yaml
import yaml
from hyperpyyaml import load_hyperpyyaml

# The only callables a model folder's hyperparams.yaml may name (unless trust_hparams=True).
ALLOWED_CALLABLES = frozenset(
    {
        "speechbrain_diffa.inference.local_model_folder",
        "speechbrain_diffa.whisper.WhisperEncoderTaps",
        "speechbrain_diffa.llada.LLaDA.from_pretrained",
        "speechbrain_diffa.autoregressive.load_backbone",
        "speechbrain_diffa.adapters.SemanticAdapter",
        "speechbrain_diffa.adapters.AcousticAdapter",
        "speechbrain_diffa.chat.ChatLayout",
        "speechbrain_diffa.chat.load_tokenizer",
        "speechbrain_diffa.model.DIFFA2Model",
        "speechbrain.utils.parameter_transfer.Pretrainer",
        "len",
    }
)
CALLING_TAGS = ("!new:", "!apply:", "!name:")  # HyperPyYAML tags that call (or hand out) a callable
PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)
VALUE_TAGS = frozenset({"!ref", "!copy", "!tuple", "!PLACEHOLDER"})  # scalars HyperPyYAML resolves itself
MAX_FILE_BYTES = 1 << 20  # a model folder's YAML is a few KB
MAX_EXPANDED_SIZE = 1_000_000  # characters + nodes after aliases and references are expanded
MAX_DEPTH = 64
_TUPLE = re.compile(r"^\(.*\)$")  # HyperPyYAML's implicit tuple pattern
_REFERENCE = re.compile(r"<[^>]*>")  # HyperPyYAML's reference pattern


class HparamsRefused(PermissionError):
    """A YAML asks for something a model folder may not do (names the file, line and what)."""


def check_hparams_file(path, allowed=ALLOWED_CALLABLES):
    """Refuse a YAML that could call code outside ``allowed`` or expand without bound.

    Arguments
    ---------
    path : str
        The YAML file.
    allowed : set of str
        Dotted names that ``!new:`` / ``!apply:`` / ``!name:`` may use.

    Returns
    -------
    ruamel.yaml.nodes.MappingNode
        The composed (unconstructed) document, for callers that want to read plain values.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write("a: 1\\nx: !apply:os.system [echo hi]\\n")
    >>> check_hparams_file(path)
    Traceback (most recent call last):
    ...
    speechbrain_diffa.hub.safe_hparams.HparamsRefused: .../hyperparams.yaml, line 2: !apply:os.system is not allowed ...
    """
    root = compose_hparams(path)
    if not isinstance(root, ruamel.yaml.MappingNode):
        raise HparamsRefused(f"{path}: expected a mapping of keys at the top level")
    _TagCheck(path, allowed).walk(root, 0)
    size = _ExpandedSize(path, root).of(root)
    if size > MAX_EXPANDED_SIZE:
        raise HparamsRefused(
            f"{path} expands to more than {MAX_EXPANDED_SIZE:,} characters and nodes once its aliases and "
            "references are followed: refused (a model folder's YAML is a few KB)"
        )
    return root


def load_safe_hparams(path, overrides=None, overrides_must_match=True, allowed=ALLOWED_CALLABLES):
    """Load a HyperPyYAML file that may only call ``allowed`` (both steps of the module docstring).

    Arguments
    ---------
    path : str
        The YAML file.
    overrides : dict
        Values that replace the file's (yours, so not checked).
    overrides_must_match : bool
        As in ``hyperpyyaml.load_hyperpyyaml``.
    allowed : set of str
        Dotted names that ``!new:`` / ``!apply:`` / ``!name:`` may use.

    Returns
    -------
    dict

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write("taps: [1, 2]\\nn: !apply:len [!ref <taps>]\\nt: (3, 4)\\n")
    >>> load_safe_hparams(path)
    {'taps': [1, 2], 'n': 2, 't': (3, 4)}
    """
    check_hparams_file(path, allowed)
    return build_checked_hparams(path, overrides, overrides_must_match, allowed)


def build_checked_hparams(path, overrides=None, overrides_must_match=True, allowed=ALLOWED_CALLABLES):
    """Build a file that :func:`check_hparams_file` has passed, with the allow-list loader (step 2 alone).

    For callers that check first to read the composed tree (``speechbrain_diffa.hub.model_folder``),
    so that the file is not composed and checked twice.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write("x: !apply:os.getcwd []\\n")
    >>> build_checked_hparams(path)
    Traceback (most recent call last):
    ...
    speechbrain_diffa.hub.safe_hparams.HparamsRefused: ...: !apply:os.getcwd is not allowed in a model folder's YAML
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stream = io.StringIO(text)
    stream.name = path  # HyperPyYAML resolves !include against it; refused by the check anyway
    loader = type("AllowListLoader", (_AllowListLoader,), {"allowed": frozenset(allowed), "source": path})
    try:
        return load_hyperpyyaml(stream, overrides, overrides_must_match, loader=loader)
    except ruamel.yaml.YAMLError as e:
        raise HparamsRefused(f"{path}: {_first_line(e)}") from None


def compose_hparams(path):
    """The composed (unconstructed) node tree of a YAML file: nothing is built or called.

    Errors (unreadable, over :data:`MAX_FILE_BYTES`, not UTF-8, not YAML) name the file.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write("a: [1\\n")
    >>> compose_hparams(path)
    Traceback (most recent call last):
    ...
    speechbrain_diffa.hub.safe_hparams.HparamsRefused: .../hyperparams.yaml is not valid YAML: ...
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise FileNotFoundError(f"Cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise HparamsRefused(f"{path} is over {MAX_FILE_BYTES:,} bytes: not a model folder's YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HparamsRefused(f"{path} is not UTF-8 text (byte {e.start})") from None
    try:  # the round-trip parser: the one HyperPyYAML's reference resolution uses
        return ruamel.yaml.YAML().compose(io.StringIO(text))
    except ruamel.yaml.YAMLError as e:
        raise HparamsRefused(f"{path} is not valid YAML: {_first_line(e)}") from None
    except RecursionError:
        raise HparamsRefused(f"{path} is nested too deeply") from None


def _first_line(error):
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
    return f"{problem}{where}"


class _TagCheck:
    """Walks a composed document: every tag allowed, every tuple plain, every reference plain."""

    def __init__(self, path, allowed):
        self.path, self.allowed, self.seen = path, allowed, set()

    def refuse(self, node, what):
        """Raise :class:`HparamsRefused` for ``what`` at ``node``'s line."""
        raise HparamsRefused(
            f"{self.path}, line {node.start_mark.line + 1}: {what} is not allowed in a model folder's YAML "
            f"(allowed: plain YAML values, !ref, !copy, !tuple, !PLACEHOLDER, and !new:/!apply:/!name: of "
            f"{sorted(self.allowed)}). If you wrote this file yourself, pass trust_hparams=True."
        )

    def walk(self, node, depth):
        """Check ``node`` and everything under it (each aliased node once)."""
        if id(node) in self.seen:  # an alias: already checked
            return
        self.seen.add(id(node))
        if depth > MAX_DEPTH:
            raise HparamsRefused(f"{self.path}, line {node.start_mark.line + 1}: nested over {MAX_DEPTH} levels")
        tag = node.tag
        if tag.startswith(CALLING_TAGS):
            if tag.split(":", 1)[1] not in self.allowed:
                self.refuse(node, tag)
        elif tag in VALUE_TAGS:
            if not isinstance(node, ruamel.yaml.ScalarNode):
                self.refuse(node, f"{tag} on a {'list' if isinstance(node, ruamel.yaml.SequenceNode) else 'mapping'}")
            self.check_scalar(node, tag)
        elif tag not in PLAIN_TAGS:
            self.refuse(node, tag)
        elif isinstance(node, ruamel.yaml.ScalarNode) and tag.endswith(":str"):
            self.check_scalar(node, tag)
        if isinstance(node, ruamel.yaml.MappingNode):
            for key, value in node.value:
                self.walk(key, depth + 1)
                self.walk(value, depth + 1)
        elif isinstance(node, ruamel.yaml.SequenceNode):
            for item in node.value:
                self.walk(item, depth + 1)

    def check_scalar(self, node, tag):
        """References may not name attributes; a string HyperPyYAML reads as a tuple must be plain."""
        value = node.value
        if tag in ("!ref", "!copy") and any("." in ref for ref in _REFERENCE.findall(value)):
            self.refuse(node, f"the attribute reference {value!r} (it calls getattr)")
        # quoted or not, HyperPyYAML reads it as a tuple (it writes strings back unquoted first)
        if (tag == "!tuple" or _TUPLE.match(value)) and not _is_plain_tuple(value):
            self.refuse(node, f"the tuple {value!r} (a tuple may hold only plain values)")


def _is_plain_tuple(text):
    try:
        items = yaml.safe_load("[" + text[1:-1] + "]")
    except yaml.YAMLError:
        return False
    return all(item is None or isinstance(item, (str, int, float, bool)) for item in items)


class _ExpandedSize:
    """How big the document gets once aliases and references are followed (memoised, linear time).

    HyperPyYAML resolves a reference, then re-resolves the text it got back, so any string holding
    ``<key>`` counts as the sum of what it names, tagged ``!ref`` or not. A string that interpolates
    references is then evaluated as arithmetic; ``*`` (so ``**``) and ``%`` could make that
    unbounded (``'x' * 10 ** 10``, ``9 ** 9 ** 9``, ``'%099999999d' % 1``), so the text it becomes
    may hold neither. A reference cycle is refused too (HyperPyYAML misses some and loops).
    """

    def __init__(self, path, root):
        self.path, self.root = path, root
        self.sizes, self.arithmetic, self.keys, self.in_progress = {}, {}, {}, set()

    def refuse(self, node, what):
        """Raise :class:`HparamsRefused` for ``what`` at ``node``'s line."""
        raise HparamsRefused(
            f"{self.path}, line {node.start_mark.line + 1}: {what} is not allowed in a model folder's YAML"
        )

    def of(self, node):
        """The expanded size of ``node`` (capped just over :data:`MAX_EXPANDED_SIZE`)."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.in_progress:
            self.refuse(node, "a circular reference or alias")
        self.in_progress.add(key)
        ops = False
        if isinstance(node, ruamel.yaml.MappingNode):
            size = 1 + sum(self.of(k) + self.of(v) for k, v in node.value)
        elif isinstance(node, ruamel.yaml.SequenceNode):
            size = 1 + sum(self.of(item) for item in node.value)
        elif isinstance(node.value, str) and _REFERENCE.search(node.value):
            literal, targets = _REFERENCE.sub("", node.value), [self.target(r) for r in _REFERENCE.findall(node.value)]
            size = len(literal) + sum(self.of(t) if t is not None else 1 for t in targets)
            ops = bool(re.search(r"[*%]", literal)) or any(self.arithmetic.get(id(t), False) for t in targets)
            if ops and not _REFERENCE.fullmatch(node.value):
                self.refuse(node, f"{node.value!r}: its text would hold * or %, then be evaluated as arithmetic")
        else:
            size = 1 + len(node.value)
            ops = bool(re.search(r"[*%]", node.value))
        self.in_progress.discard(key)
        self.arithmetic[key] = ops
        self.sizes[key] = min(size, MAX_EXPANDED_SIZE + 1)
        return self.sizes[key]

    def target(self, ref):
        """The node ``<key[sub]>`` names, or None (HyperPyYAML names a bad reference itself)."""
        node = self.root
        for part in ref.strip("<>").split("["):
            if not isinstance(node, ruamel.yaml.MappingNode):
                return None
            node = self.mapping(node).get(part.strip("]"))
            if node is None:
                return None
        return node

    def mapping(self, node):
        """``{key: value node}`` of a mapping node, built once."""
        if id(node) not in self.keys:
            self.keys[id(node)] = {k.value: v for k, v in node.value if isinstance(k.value, str)}
        return self.keys[id(node)]


def _safe_tuple(loader, node):
    """``!tuple`` read with PyYAML's safe loader (HyperPyYAML's own uses the unsafe one)."""
    text = loader.construct_scalar(node)
    try:
        return tuple(yaml.safe_load("[" + text[1:-1] + "]") or [])
    except yaml.YAMLError:
        raise HparamsRefused(
            f"line {node.start_mark.line + 1}, after references are resolved: the tuple {text!r} holds more "
            "than plain values"
        ) from None


class _AllowListLoader(ruamel.yaml.SafeLoader):
    """A loader with no Python constructors; HyperPyYAML's callable tags get the allow-list check.

    HyperPyYAML registers its constructors on the loader class it is given; this class wraps each
    one as it is registered, so the check runs where the call would happen.
    """

    allowed = frozenset()
    source = "<yaml>"

    @classmethod
    def add_multi_constructor(cls, tag_prefix, multi_constructor):
        """Register ``multi_constructor`` for ``tag_prefix``, behind the allow-list."""

        def construct_allowed(loader, suffix, node):
            """Build the node if ``tag_prefix + suffix`` is allowed, else refuse."""
            if tag_prefix not in CALLING_TAGS or suffix not in cls.allowed:
                raise HparamsRefused(
                    f"{cls.source}, after references are resolved (line {node.start_mark.line + 1}): "
                    f"{tag_prefix}{suffix} is not allowed in a model folder's YAML"
                )
            return multi_constructor(loader, suffix, node)

        super().add_multi_constructor(tag_prefix, construct_allowed)

    @classmethod
    def add_constructor(cls, tag, constructor):
        """Register ``constructor``; ``!tuple`` always gets the safe one."""
        super().add_constructor(tag, _safe_tuple if tag == "!tuple" else constructor)
