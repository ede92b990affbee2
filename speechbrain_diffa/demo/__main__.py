"""``python -m speechbrain_diffa.demo``: the curriculum demo (:mod:`speechbrain_diffa.demo.curriculum`)."""

from speechbrain_diffa.demo.curriculum import main

if __name__ == "__main__":
    main()
