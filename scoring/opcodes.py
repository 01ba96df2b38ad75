"""The scorer's instruction set: what the compiler emits and the kernel interprets.

A compiled program is a list of instructions, one row of `WIDTH` int64 each:

    [op, dst, a, b, p0, p1, p2, p3, p4, p5]

Each instruction runs once per sequence, over all its query rows: `dst`, `a`, `b` are value
slots (the compiler's evaluation-stack depths) and a slot holds one of
- a predicate, in one of three shapes (`p0` of predicate instructions):
  `KEYS_ONLY` a 0/1 value per key j (it reads key tokens only, so it is the same for every
  query), `QUERY_ONLY` a 0/1 value per query i (an `if` condition), or `PAIRS` a 0/1 value per
  (i, j <= i), packed row-major like the attention;
- a selector: for every row, its keys in increasing order (a CSR matrix: row starts and keys);
- a pattern: the same with a weight per key (each row sums to 1) and a `has` flag per row.
Selectors shared by many programs are computed once per sequence by the shared code
(`SEL_KEEP` after each) and read in place by the programs (`SEL_LOAD`).
Reals (decay rates, mix factors, softmax coefficients) live in a float table that `p0` or `p1`
indexes (its entry 0 is 1.0);
member options live in an int table (`p3` start, `p4` count). Columns are rows of the corpus's
feature table (see `columns.py`).
"""

WIDTH = 10
OP, DST, A, B, P0, P1, P2, P3, P4, P5 = range(WIDTH)

# Predicate shapes.
KEYS_ONLY, QUERY_ONLY, PAIRS = 0, 1, 2

# Operand kinds of comparisons and memberships.
KEY, QUERY, CONST = 0, 1, 2

# Comparison operators.
COMPARE_OPS = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}

# Predicates: dst = 0/1 values of shape p0.
PRED_FEATURE = 1  # p1 = kind (KEY or QUERY), p2 = column
PRED_COMPARE = 2  # p1 = op, p2 = left kind, p3 = left value, p4 = right kind, p5 = right value
PRED_MEMBER = 3  # p1 = kind, p2 = value, p3 = options start, p4 = options count
PRED_NOT = 4  # a
PRED_AND = 5  # a, b
PRED_OR = 6  # a, b

# Selectors: dst = keys per row.
SEL_SELF = 10
SEL_FIRST = 11
SEL_CAUSAL = 12
SEL_PREV = 13  # p1 = n
SEL_WINDOW = 14  # p1 = a, p2 = b
SEL_KEYS = 15  # a = predicate of shape p0 (KEYS_ONLY or PAIRS)
SEL_LAST = 16  # a = predicate of shape p0 (KEYS_ONLY or PAIRS), p1 = n
SEL_SAME = 17  # p1 = column (walks the corpus's chains of equal values)
SEL_SHIFT = 18  # a = selector, p1 = n
SEL_START = 19  # p1 = column holding the unit's first position
SEL_UNION = 20  # a, b
SEL_INTERSECT = 21  # a, b
SEL_MINUS = 22  # a, b
SEL_LOAD = 23  # p1 = shared selector: dst reads it where it is kept (no copy)
SEL_KEEP = 24  # a = selector, p1 = shared selector: keeps a copy for this sequence

# Patterns: dst = keys and weights per row, and a `has` flag per row.
PAT_UNIFORM = 30  # a = selector, p1 = factor (a mix's weight; reals[0] = 1)
PAT_DECAY = 31  # a = selector, p0 = rate, p1 = factor
PAT_SCALE = 32  # a = pattern, p0 = factor (the first part of a mix)
PAT_ADD = 33  # a = mix so far, b = pattern, p0 = factor of b
PAT_ADD_UNIFORM = 40  # a = mix so far, b = selector taken as uniform, p0 = factor of b
PAT_FALLBACK = 34  # a, b
PAT_CHOOSE = 35  # a = condition (QUERY_ONLY), b = then, p1 = else
PAT_SOFT_BEGIN = 36  # dst: every key j <= i of every row, score 0
PAT_SOFT_DIST = 37  # dst += coef * (i - j), p0 = coef
PAT_SOFT_KEYS = 38  # dst += coef on the keys of selector a, p0 = coef
PAT_SOFT_END = 39  # dst: the softmax of the scores
