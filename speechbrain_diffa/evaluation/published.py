"""Published numbers of DIFFA, DIFFA-2 and their autoregressive peers (not reproduced here).

Every row names its source and, for MMAU, the version; "[2nd]" marks secondary sources
(``docs/sources.md``, "Published results").

Authors
 * speechbrain_diffa contributors 2026
"""

# (model, benchmark key, MMAU version or "", accuracy %, source)
PUBLISHED = [
    ("DIFFA-2", "mmsu", "", 60.45, "DIFFA-2 paper (ACL Findings 2026), via paper digest"),
    ("DIFFA-2", "mmau/test-mini", "version not stated", 69.60, "DIFFA-2 paper, via paper digest"),
    ("DIFFA-2", "mmau/test", "version not stated", 67.00, "DIFFA-2 paper, via paper digest"),
    ("DIFFA-2", "mmar", "", 50.80, "DIFFA-2 paper, via paper digest"),
    ("DIFFA", "mmsu", "", 56.04, "DIFFA paper (AAAI 2026)"),
    ("DIFFA", "mmau/test-mini", "version not stated", 49.71, "DIFFA paper (AAAI 2026)"),
    ("DIFFA", "mmar", "", 37.20, "DIFFA-2 paper, via paper digest"),
    ("Qwen2.5-Omni-7B", "mmsu", "", 60.57, "MMSU leaderboard"),
    ("Qwen2.5-Omni-7B", "mmau/test-mini", "2024", 65.60, "Qwen2.5-Omni README"),
    ("Qwen2.5-Omni-7B", "mmau/test-mini", "v05.15.25", 71.50, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Qwen2.5-Omni-7B", "mmau/test", "v05.15.25", 71.00, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Qwen2.5-Omni-7B", "mmar", "", 56.7, "MMAR leaderboard"),
    ("Kimi-Audio-7B", "mmsu", "", 59.28, "MMSU leaderboard"),
    ("Kimi-Audio-7B", "mmau/test-mini", "v05.15.25", 68.20, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Kimi-Audio-7B", "mmau/test", "v05.15.25", 64.40, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Qwen2-Audio-Instruct", "mmsu", "", 53.27, "MMSU leaderboard"),
    ("Qwen2-Audio-Instruct", "mmau/test-mini", "2024", 49.20, "Qwen2.5-Omni README"),
    ("Qwen2-Audio-Instruct", "mmau/test-mini", "v05.15.25", 59.60, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Qwen2-Audio-Instruct", "mmau/test", "v05.15.25", 57.40, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Qwen2-Audio-Instruct", "mmar", "", 30.0, "MMAR leaderboard"),
    ("Audio Flamingo 3", "mmsu", "", 61.4, "AF3 paper via wizwand [2nd]"),
    ("Audio Flamingo 3", "mmau/test-mini", "v05.15.25", 73.30, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Audio Flamingo 3", "mmau/test", "v05.15.25", 72.42, "MMAU leaderboard (DeSTA2.5 mirror)"),
    ("Audio Flamingo 3", "mmar", "", 58.5, "AF3 paper via wizwand [2nd]"),
    ("MiniCPM-o 8.6B", "mmsu", "", 56.53, "MMSU leaderboard"),
]


def published_rows(benchmark, split=None):
    """Published rows for ``benchmark`` (``"mmau"`` rows filtered by split).

    Example
    -------
    >>> [(m, v, a) for m, v, a, _ in published_rows("mmau", "test-mini")][:2]
    [('DIFFA-2', 'version not stated', 69.6), ('DIFFA', 'version not stated', 49.71)]
    >>> published_rows("librispeech")
    []
    """
    key = f"{benchmark}/{split}" if benchmark == "mmau" else benchmark
    return [(model, version, acc, src) for model, k, version, acc, src in PUBLISHED if k == key]


def published_table(benchmark, split=None, ours=None, our_label="this run", our_version=""):
    """A Markdown table of published numbers, with this run's number on top when given.

    Example
    -------
    >>> print(published_table("mmar", ours=31.25).splitlines()[4])
    | this run | 31.25 |  | computed here |
    """
    rows = published_rows(benchmark, split)
    if not rows:
        return ""
    version_column = "MMAU version" if benchmark == "mmau" else ""
    lines = [
        "Published numbers (as reported by their authors; not reproduced by this harness):",
        "",
        f"| model | accuracy % | {version_column} | source |",
        "|---|---|---|---|",
    ]
    if ours is not None:
        lines.insert(4, f"| {our_label} | {ours:.2f} | {our_version} | computed here |")
    lines += [f"| {m} | {a:.2f} | {v} | {s} |" for m, v, a, s in rows]
    return "\n".join(lines)
