"""Render the derived catalog through the Jinja2 templates and write it atomically.

Output is deterministic (sorted, no timestamps, stamped with the generator version) so a re-run is
byte-identical and a test can compare the committed ``generated/`` with a fresh generation.
Writing goes to a sibling temporary directory that replaces the target only when every file is
written: a failure leaves the previous output intact.
"""
from __future__ import annotations

import contextlib
import math
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np
import sympy as sp

from .. import __version__
from ..atomic import write_atomically  # noqa: F401 - emit's writer, re-exported
from ..catalog import X
from ..derive.scalar import DerivedActivation, Kernel
from .numba import NumbaPrinter, fold_constants, helpers_used, scalar_body, special_value, transcendental


def _templates_dir() -> Path:
    """templates/ of the source tree, or the installed copy (package ``symact._templates``)."""
    here = Path(__file__).resolve().parent.parent / "templates"
    return here if here.is_dir() else Path(str(resources.files("symact._templates")))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["repr"] = repr
    env.filters["cite"] = cite
    return env


def cite(entry) -> str:
    """Where a kernel's docstring says its definition comes from: the entry's primary literature
    ('Elfwing et al. (2018), arXiv:1702.03118'), or its own source for a user entry without one."""
    refs = getattr(entry, "reference", ())
    if not refs:
        return entry.source
    return "; ".join(f"{r.short}, {r.ids}" if r.ids else f"{r.short}, {r.venue}" for r in refs)


def _const_filter(tag):
    printer = NumbaPrinter(tag)
    return lambda v: printer.const(v)


# Constants of the vectorizable elementary functions in _runtime.py, per dtype.
# exp/expm1: x = k·ln2 + r, ln2 = ln2_hi + ln2_lo with ln2_hi short enough that k·ln2_hi is exact;
# e^r = 1 + r + r²·q(r), q a Chebyshev fit (mpmath.chebyfit) of (e^r − 1 − r)/r² on |r| ≤ ln2/2 + 0.001
# (relative error of e^r 2^-61.8 in float64 with degree 10, 2^-31.9 in float32 with degree 5).
# log1p, log: fdlibm/musl's reduction to [√2/2, √2) and its minimax coefficients Lg1.. for log((1+s)/(1−s)).
# erf/erfc (own fits, mpmath.chebyfit at 40-50 digits): erf(a) = a + a·Q(a²) on 0 <= a <= 1, Q of degree 13
# (f64, error 2e-21) / 6 (f32, 1.2e-9) in a²; erfc(a) = 1 − a − a·Q(a²) below a = erfc_small (up to 1 it cost
# 2.4 ULP), and above it erfc(a) = e^(−h² − c0 + (h − a)(h + a) + R)/a, h = a cut to half_bits significant bits
# (half_mask) so that h² and −h² − c0 are exact, c0 a short binary number centring
# R(a) = log(a·erfc(a)·e^(a²)) + c0. R is fitted twice: as erfc_r_near in v = 2(a − 1.5) (exact) over
# erfc_small <= a <= 2 (degree 21, 1.8e-18 / 11, 2.1e-9), and as erfc_r in v = (t − erfc_mid)/erfc_half,
# t = 2/(2 + a), over 2 <= a <= erfc_max (degree 20, 1.2e-18 / 8, 2.8e-9). A single fit in t from a = 1 costs
# up to 2.4 ULP near a = 1, where the rounding of t meets R's steepest slope.
# tanh: a + a³·P(a²) for a = |x| < 0.55 (P a Chebyshev fit of (tanh(a) − a)/a³, degree 10, 7.7e-18 / 5,
# 3.8e-10), 1 − 2e/(1 + e) with e = e^(−2a) beyond (tanh >= 1/2 there: no cancellation); 0.63 against
# 0.95 ns per element through expm1 and a Newton step (float32; 1.56 against 1.80 float64), same accuracy.
# ncdf: Phi(-|z|) = (t/4)·e^(−z²/2 + P(v)), t = 4/(4 + |z|), v = 2(t − ncdf_mid) over 4/(4 + zmax) <= t <= 1
# (ncdf_zmax: Phi(−|z|)·|z| underflows beyond it); Phi(z) = 1 − Phi(−z) for z > 0. P fits
# G(t) = log(4·Phi(−|z|)/t) + z²/2 (the factor 4 = 2^2 centres G on [−0.83, 0.69]). K = 4 in t = K/(K + |z|)
# needs the lowest degree of K = 1, 2, 4, 8, 16. The coefficients were rounded to the dtype one at a time
# from the constant up (the constant in two parts, ncdf_p0_lo), the higher ones refitted after each
# rounding (least squares on 3n Chebyshev nodes, mpmath at 40 digits): degree 10, max error 8.9e-9 (f32) /
# 24, 5.7e-18 (f64) with the rounded coefficients. Against erfc(−z/√2)/2 through erf_q, two fits of R, two
# divisions and two exps: ncdf 2.1 -> 1.5 (f32) and 6.4 -> 4.1 (f64) ns per element, 2.19 -> 1.85 and
# 2.04 -> 1.66 max ULP.
# softplus: log1p(e) for e = e^-|z| in (0, 1] as e + e²·L(e), L = (log1p(e) − e)/e² in [−0.5, −0.31] a
# Chebyshev fit on [0, 1] (log1pe_q; degree 20, error 9.8e-18 / 9, 4.7e-9): no division, no reduction;
# 0.61 against 1.59 ns per element through log1p (float32, 3.2 -> 2.1 float64), 1.9 ULP against 1.5.
ELEMENTARY = {
    "f64": {
        "ln2_hi": 0.6931471803691238, "ln2_lo": 1.9082149292705877e-10,
        "exp_q": [0.5, 0.1666666666666667, 0.04166666666666667, 0.008333333333325973, 0.0013888888888883633,
                  0.0001984126987538548, 2.480158732595111e-05, 2.7557254685728803e-06,
                  2.755727313289604e-07, 2.5105513541847086e-08, 2.0914898727175524e-09],
        "exp_lo": -746.0, "exp_hi": 710.0, "expm1_lo": -40.0, "shift": 6755399441055744.0,
        "log_hi": 6.93147180369123816490e-01, "log_lo": 1.90821492927058770002e-10,
        "lg_even": [3.999999999940941908e-01, 2.222219843214978396e-01, 1.531383769920937332e-01],
        "lg_odd": [6.666666666666735130e-01, 2.857142874366239149e-01, 1.818357216161805012e-01,
                   1.479819860511658591e-01],
        "bias": 1023, "mant": 52, "tclamp": 100, "mask": "0x000fffffffffffff",
        "one_bits": "0x3ff0000000000000", "sqrt_half_bits": "0x3fe6a09e00000000",
        "shift_bits": "0x4338000000000000", "tiny": 2.2250738585072014e-308,
        "erf_q": [0.1283791670955126, -0.37612638903183754, 0.1128379167095512,
                  -0.02686617064512984, 0.0052239776254232985, -0.000854832702193483,
                  0.00012055332902888736, -1.4925647567519332e-05, 1.6462045441468418e-06,
                  -1.6364642158167616e-07, 1.4792401209404813e-08, -1.216456005728345e-09,
                  8.709045129053106e-11, -4.230945824295338e-12],
        "erfc_r": [0.11199613179458758, -0.03816930403361374, -0.0284367705972415,
                  -0.010659474300244897, -0.00273512529984424, -0.0005241645700359393,
                  -9.82841136716402e-05, -2.8817757996049844e-05, -9.886683626835077e-06,
                  -2.610513445952343e-06, -5.566568340692758e-07, -1.4970476171598375e-07,
                  -5.211247745545114e-08, -1.4759348329787151e-08, -3.3438354049834738e-09,
                  -9.610814105938572e-10, -3.3154702952309156e-10, -7.940773726566682e-11,
                  -1.8447911706872376e-11, -1.0575849118995489e-11, -3.2421252248845143e-12],
        "erfc_r_near": [-0.025901981443388337, 0.07893293244356897, -0.028715638209314713,
                       0.009117661433174783, -0.002710998103934699, 0.0007837572453435902,
                       -0.0002252492588089622, 6.514548348775127e-05, -1.9062312066092803e-05,
                       5.649628685734116e-06, -1.6943160512751234e-06, 5.13373007405049e-07,
                       -1.5678052185979984e-07, 4.806742798587649e-08, -1.5013499782844937e-08,
                       4.86429665444566e-09, -1.3348569859383454e-09, 2.9452613877683095e-10,
                       -2.4583616836922195e-10, 1.1034012208593324e-10, 3.520731211580675e-11,
                       -5.581150287970808e-12, -1.1898699450445607e-11],
        "erfc_mid": 0.2838983050847458, "erfc_half": 0.21610169491525424, "erfc_max": 27.5, "erfc_c0": 0.703125, "erfc_small": 0.84375,
        "log1pe_q": [-0.5, 0.33333333333332466, -0.2499999999987205, 0.1999999999247163,
                     -0.1666666643097834, 0.14285709745445543, -0.12499941281507687,
                     0.11110571142855806, -0.09996324347550137, 0.09071835292534261,
                     -0.0825618541627825, 0.07444817019942226, -0.06504010366036855,
                     0.053223522460321214, -0.03912505115233944, 0.024682950191684934,
                     -0.012732150528247672, 0.005081090478548994, -0.0014569248473329174,
                     0.000265295970542531, -2.2938856818471438e-05],
        "tanh_p": [-0.3333333333333333, 0.13333333333332714, -0.053968253967434016,
                   0.021869488493666944, -0.008863234397814355, 0.003592110378689024,
                   -0.001455661830100716, 0.0005889360520074057, -0.0002346347410887237,
                   8.511313685577671e-05, -2.060276537636634e-05],
        "half_mask": "-0x100000000", "half_bits": 21,
        "ncdf_p": [-0.2806599448474549, 0.8048571559157686, 0.18867367280175354,
                   0.008203119400907833, -0.02303182153124927, -0.009219441070726675,
                   0.002065589613358258, 0.0027518556846824393, 0.00019218311184873387,
                   -0.0006695616152766099, -0.0001935360593403813, 0.00014197933115192026,
                   7.700381660683655e-05, -2.5321580711673698e-05, -2.4030618879011462e-05,
                   3.1407634575742133e-06, 6.472045779601667e-06, 8.065420106734949e-08,
                   -1.535484987650363e-06, -2.145242528527336e-07, 3.223218177219825e-07,
                   7.619291586112564e-08, -5.889319836499885e-08, -1.2282202621542419e-08,
                   7.413975369014535e-09],
        "ncdf_p0_lo": -1.605145764552835e-17, "ncdf_mid": 0.5, "ncdf_zmax": 39.0,
    },
    "f32": {
        "ln2_hi": 0.693145751953125, "ln2_lo": 1.428606765330187e-06,
        "exp_q": [0.5000000013692557, 0.1666666668187505, 0.041666462666195954, 0.008333310674603188,
                  0.0013933900050040087, 0.00019891268510107283],
        "exp_lo": -104.0, "exp_hi": 89.0, "expm1_lo": -20.0, "shift": 12582912.0,
        "log_hi": 0.6931381225585938, "log_lo": 9.05800061445916e-06,
        "lg_even": [0.40000972151756287, 0.24279078841209412],
        "lg_odd": [0.6666666269302368, 0.2849878668785095],
        "bias": 127, "mant": 23, "tclamp": 40, "mask": "0x007fffff",
        "one_bits": "0x3f800000", "sqrt_half_bits": "0x3f3504f3",
        "shift_bits": "0x4b400000", "tiny": 1.1754943508222875e-38,
        "erf_q": [0.12837916584835093, -0.37612626666720334, 0.11283594715160218,
                  -0.026854212010626412, 0.005189087423433974, -0.000801686428716587,
                  7.875875062685488e-05],
        "erfc_r": [0.10244975801666703, -0.04080409018883851, -0.022315493227951927,
                  -0.006452358328854004, -0.0012916970598484524, -0.0002050287431027274,
                  -3.685525071904393e-05, -1.0669474528907947e-05, -2.6470153519941297e-06],
        "erfc_r_near": [-0.025901981512694964, 0.07893291946916102, -0.028715631155764285,
                       0.009117895588431351, -0.0027110624913271675, 0.0007825631939200426,
                       -0.0002251225120728614, 6.768102160290296e-05, -1.8992514353562448e-05,
                       3.2099932248761143e-06, -2.0071682381031498e-06, 1.4449801090442154e-06],
        "erfc_mid": 0.33, "erfc_half": 0.17, "erfc_max": 10.5, "erfc_c0": 0.703125, "erfc_small": 0.84375,
        "log1pe_q": [-0.4999999952222377, 0.3333323734621399, -0.24996759908263924,
                     0.19956707952251837, -0.16365152869205535, 0.13033364238242814,
                     -0.0913941377401492, 0.049309973434549695, -0.01718426698244871,
                     0.00280164199280335],
        "tanh_p": [-0.3333333329502591, 0.13333324200007313, -0.0539647004451583,
                   0.021818449128639904, -0.00852633305780133, 0.0025263907105745136],
        "half_mask": "-0x2000", "half_bits": 11,
        "ncdf_p": [-0.06762367486953735, 0.8991293907165527, 0.18492521345615387,
                   -0.019575893878936768, -0.031142350286245346, -0.0026740473695099354,
                   0.00620654784142971, 0.001392264966852963, -0.0012576382141560316,
                   -0.0003198855265509337, 0.00017038067744579166],
        "ncdf_p0_lo": 3.5367331285840464e-09, "ncdf_mid": 0.625, "ncdf_zmax": 15.0,
    },
}


# Hyperbolic and inverse functions (runtime.py.j2's "hyperbolic and inverse functions" block, issue 18): cosh,
# sinh, atan, asinh, acosh, atanh, log_cosh, hypot_sq, squareplus(_grad); <= 1 ULP measured against mpmath in both
# dtypes (tests/test_elementary_extra.py). Fits by least squares on 4(n + 1) + 20 Chebyshev nodes, mpmath at 50
# digits, the coefficients rounded to the dtype one at a time from the constant up and the higher ones refitted
# after each rounding (as ncdf_p); max absolute error of the rounded polynomial, f64 / f32:
# sinh_p: (sinh(a) - a)/a³ in s = a² on [0, 1]: degree 6, 9.3e-18 / 3, 5.0e-9 (both the rounding of 1/6).
# atan_p: (atan(t) - t)/t³ in s = t² on [0, 1/4]: degree 12, 1.9e-17 / 5, 1.0e-8.
# logcosh_p: log(cosh(a))/a² in s = a² on [0, 1]: degree 14, 5.1e-18 / 7, 3.5e-10. Its constant 1/2 is exact and
#   log_cosh adds it apart (a²/2 + a⁴·Q(a²), Q = logcosh_p[1:]), so that the leading term rounds once.
# logcosh_l: (log1p(e) - e)/e² on [0, e^-2]: degree 10, 5.7e-18 / 4, 1.1e-8 (weighted by e² <= 0.018 there).
# pi2, pi4: π/2 and π/4 as hi + lo, hi the nearest float of the dtype. atan_max: atan(x) rounds to π/2 beyond.
# asinh_big: beyond it sqrt(x² ± 1) = x to within 2^-(2·mant) and asinh/acosh take log(2x) (x² would overflow).
# exp_half_from: where e^x overflows (docstrings); exp_half_max: beyond it e^x/2 overflows too (the clamp).
# below_one: the largest float under 1. lin_asinh, lin_atanh: below them asinh(x) = x(1 - x²/6 ...) and
# atanh(x) = x(1 + x²/3 ...) round to x (x²/6, x²/3 under a quarter of the epsilon), where log's correction
# term would carry a rounding as large as the result's last bit.
_ELEMENTARY_HYPERBOLIC = {
    "f64": {
        "sinh_p": [0.16666666666666666, 0.008333333333333567, 0.00019841269841110005, 2.75573192647714e-06,
                   2.5052105469443237e-08, 1.6058657453834518e-10, 7.716098049884679e-13],
        "atan_p": [-0.3333333333333333, 0.19999999999998888, -0.14285714285526643, 0.11111111096839207,
                   -0.09090908491696649, 0.07692292200644109, -0.06666403587653362, 0.05879302582288451,
                   -0.052384920105044044, 0.046217612320058665, -0.037910269421928544, 0.02478081711627479,
                   -0.009072294488344913],
        "logcosh_p": [0.5, -0.08333333333333187, 0.02222222222208939, -0.006746031741769282, 0.00218694878409967,
                      -0.0007386022851419491, 0.0002565762984243964, -9.097105738410332e-05,
                      3.2721816111175215e-05, -1.1827356119916868e-05, 4.192153562589883e-06,
                      -1.3767581416785617e-06, 3.7787658026158207e-07, -7.337425155830903e-08,
                      7.238300069292837e-09],
        "logcosh_l": [-0.5, 0.3333333333333269, -0.24999999999769357, 0.19999999971270696, -0.16666664886518623,
                      0.14285650629656732, -0.12498584477364719, 0.11090827175834019, -0.09811257999231486,
                      0.07972683759454456, -0.04342344881614117],
        "pi2_hi": 1.5707963267948966, "pi2_lo": 6.123233995736766e-17,
        "pi4_hi": 0.7853981633974483, "pi4_lo": 3.061616997868383e-17,
        "atan_max": 2.0 ** 60, "asinh_big": 2.0 ** 28, "exp_half_from": 709.782712893384, "exp_half_max": 711.0,
        "below_one": 0.9999999999999999, "lin_asinh": 2.0 ** -26, "lin_atanh": 2.0 ** -27,
    },
    "f32": {
        "sinh_p": [0.1666666716337204, 0.0083332983776927, 0.00019846358918584883, 2.7591074740485055e-06],
        "atan_p": [-0.3333333432674408, 0.19999991357326508, -0.14282436668872833, 0.11031216382980347,
                   -0.08333589136600494, 0.04369209706783295],
        "logcosh_p": [0.5, -0.08333330601453781, 0.022221548482775688, -0.006740196608006954, 0.0021622730419039726,
                      -0.0006807155441492796, 0.00017708451196085662, -2.585761103546247e-05],
        "logcosh_l": [-0.5, 0.33333078026771545, -0.24981525540351868, 0.19577127695083618, -0.12721675634384155],
        "pi2_hi": 1.5707963705062866, "pi2_lo": -4.371138828673793e-08,
        "pi4_hi": 0.7853981852531433, "pi4_lo": -2.1855694143368964e-08,
        "atan_max": 2.0 ** 30, "asinh_big": 2.0 ** 12, "exp_half_from": 88.72283935546875, "exp_half_max": 90.0,
        "below_one": 0.9999999403953552, "lin_asinh": 2.0 ** -12, "lin_atanh": 2.0 ** -13,
    },
}
for _t, _extra in _ELEMENTARY_HYPERBOLIC.items():
    ELEMENTARY[_t].update(_extra)

for _e in ELEMENTARY.values():  # P'(v) to degree 4, enough for P's change under the 2^-p corrections of v
    _e["ncdf_dp"] = [k * ck for k, ck in enumerate(_e["ncdf_p"][1:6], start=1)]


def _inv_2pi_digits(n: int = 100) -> list[int]:
    """1/(2π) in base 2^24, most significant digit first (the runtime's exact reduction for sin and cos
    of a product, _turns_f64): 100 digits cover arguments up to 2^2048 with nine digits to spare."""
    import mpmath

    digits = []
    with mpmath.workprec(24 * n + 64):
        v = 1 / (2 * mpmath.pi)
        for _ in range(n):
            v *= 2 ** 24
            d = int(mpmath.floor(v))
            digits.append(d)
            v -= d
    return digits


def _rows(values: list[int], per_row: int = 8) -> str:
    """Integers as float literals, ``per_row`` to a line, indented for an array literal."""
    return "\n".join("    " + " ".join(f"{v}.0," for v in values[i:i + per_row])
                     for i in range(0, len(values), per_row))


def _two_pi_split() -> tuple[str, str]:
    """2π as hi + lo (hi the nearest double), printed exactly (repr) for the runtime."""
    import mpmath

    with mpmath.workprec(200):
        hi = float(2 * mpmath.pi)
        lo = float(2 * mpmath.pi - hi)
    return repr(hi), repr(lo)


def render_runtime(env: jinja2.Environment) -> str:
    return env.get_template("runtime.py.j2").render(
        version=__version__, elem=ELEMENTARY, inf=float("inf"), inv_2pi=_rows(_inv_2pi_digits()), two_pi=_two_pi_split(),
        dtypes=[("f32", "float32", _const_filter("f32")), ("f64", "float64", _const_filter("f64"))],
    )


def _default_text(p) -> str:
    v = float(p.value)
    if np.isinf(v):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def _param_context(p) -> dict:
    return {"name": p.name, "positive": p.positive, "allow_inf": p.allow_inf, "default_text": _default_text(p)}


def _variant(k: Kernel, tag: str, constants: dict) -> dict:
    """The scalar kernel body of one dtype. The special inputs (nan, and ±inf where SymPy derived a
    limit) are applied as selects after the body, not as early returns: a loop over a body with
    three early returns was left scalar by LLVM (gelu), one with selects vectorizes. A select is
    left out where the body already computes that value there (printing.special_value)."""
    stable = k.stable.subs(constants)
    printer = NumbaPrinter(tag)
    a = k.arg.name
    guards = []
    for value, x in zip(k.at_inf, (math.inf, -math.inf)):
        if value is None:
            continue
        limit = fold_constants(value.subs(constants))
        if limit.is_number and _same(special_value(stable, k.arg, x, tag), printer.dtype(float(limit))):
            continue
        sign = "-" if x < 0 else ""
        guards.append(f"result = {printer.doprint(limit)} if {a} == {printer.const(x)} else result"
                      f"  # limit at {sign}inf, derived by SymPy")
    at_nan = special_value(stable, k.arg, math.nan, tag)
    guards.append("return result  # nan in, nan out: the body propagates it" if at_nan is not None and np.isnan(at_nan)
                  else f"return {a} if {a} != {a} else result  # nan in, nan out (also where a branch or a constant would hide it)")
    assignments, (result,) = scalar_body([stable], tag)
    return {"tag": tag, "guards": guards, "assignments": assignments, "result": result}


def _same(got, want) -> bool:
    """Bitwise the same float (so +0 and -0 differ); None (undecided) is never the same."""
    return got is not None and not np.isnan(want) and got == want and np.signbit(got) == np.signbit(want)


def param_vjp_name(entry, param: str) -> str:
    """The kernel that returns a learnable parameter's gradient in the parameter's shape."""
    return f"{entry.name}_vjp_{param}"


def param_vjps(d: DerivedActivation) -> list[str]:
    """Names of an activation's parameter VJP kernels (``prelu_vjp_weight``), one per learnable
    parameter: Σ g·df/dp over the axes p was broadcast along, in p's shape."""
    return [param_vjp_name(d.entry, k.role[4:]) for k in d.kernels
            if k.role.startswith("df/d") and k.role != "df/dx" and k.arg == X]


def _kernel_context(d: DerivedActivation, k: Kernel, vjps: bool = False) -> dict:
    e = d.entry
    constants = e.constants()
    if k.role == "f":  # k.name: a loss module also holds its variants' kernels (kl_div_log_target_elementwise)
        doc = f"{k.name}(x): {e.summary}."
    elif k.role == "df/dx":
        doc = f"Derivative of {k.name.removesuffix('_grad')} with respect to x."
    elif k.arg.name == "y":
        doc = (f"Derivative of {e.name} from its output y = {e.name}(x): what backprop needs when only y "
               f"was kept.\n\n    Accuracy: {k.note}.")
    else:
        p = k.role[4:]
        doc = (f"Partial derivative of {e.name} with respect to its parameter {p!r}, elementwise (one value\n"
               f"    per element of the broadcast shape of x and the parameters, like {e.name}_grad).")
        if vjps:
            doc += (f"\n\n    The gradient in {p}'s own shape, summed over the axes {p} was broadcast along, "
                    f"is\n    {param_vjp_name(e, p)}(x, g, ...).")
    names = [p.name for p in e.kernel_params]
    params = k.params if k.params is not None else e.kernel_params
    specs = "_PARAMS" if [p.name for p in params] == names else \
        "(" + "".join(f"_PARAMS[{names.index(p.name)}], " for p in params).rstrip(" ") + ")"
    vjp = None
    if vjps and k.role.startswith("df/d") and k.role != "df/dx" and k.arg == X:
        p = k.role[4:]
        vjp = {"name": param_vjp_name(e, p), "param": p, "index": [q.name for q in params].index(p)}
    return {
        "vjp": vjp,
        "name": k.name, "role": k.role, "doc": doc, "proof": k.proof, "arg": k.arg.name,
        "params": [_param_context(p) for p in params], "specs": specs,
        "stable_text": sp.sstr(k.stable),
        "rules_text": ", ".join(k.rules) or "none needed",
        "variants": [_variant(k, "f32", constants), _variant(k, "f64", constants)],
        "heavy": transcendental([k.stable]),
    }


# Each kernel gets a serial loop (small arrays) and a prange loop (all cores, large arrays); the
# runtime's front end picks one. error_model="numpy": a float division by zero gives inf/nan instead
# of a check-and-raise branch, which would keep the loop from vectorizing.
LOOP_KINDS = [
    ("loop", 'cache=True, error_model="numpy"', "range"),
    ("ploop", 'cache=True, parallel=True, error_model="numpy"', "prange"),
]


def fused_kernels(d: DerivedActivation, vjp: bool = False) -> list[tuple[str, Kernel, Kernel]]:
    """(name, f, df/dx) for the fused kernels of an activation, if it has both with the same
    argument and parameters: forward+derivative ``name_fwd_grad(x) -> (y, dy/dx)`` and (with
    ``vjp``) forward+vector-Jacobian product ``name_fwd_vjp(x, g) -> (y, g·dy/dx)``."""
    f = next((k for k in d.kernels if k.role == "f"), None)
    g = next((k for k in d.kernels if k.role == "df/dx"), None)
    if f is None or g is None or f.arg != g.arg or f.params != g.params:
        return []
    return [(f"{d.entry.name}_fwd_grad", f, g)] + ([(f"{d.entry.name}_fwd_vjp", f, g)] if vjp else [])


def render_activation(env: jinja2.Environment, d: DerivedActivation, vjp: bool = False) -> str:
    e = d.entry
    kernels = [_kernel_context(d, k, vjps=vjp) for k in d.kernels]
    helpers = sorted({h for k in d.kernels for tag in ("f32", "f64") for h in helpers_used([k.stable], tag)})
    params = [_param_context(p) for p in e.kernel_params]
    by_name = {k["name"]: k for k in kernels}
    fused = [{"name": name, "f": f.name, "g": g.name, "params": by_name[f.name]["params"],
              "specs": by_name[f.name]["specs"], "vjp": name.endswith("_fwd_vjp"),
              "heavy": by_name[f.name]["heavy"] or by_name[g.name]["heavy"]}
             for name, f, g in fused_kernels(d, vjp=vjp)]
    return env.get_template("activation.py.j2").render(
        version=__version__, entry=e, definition=sp.sstr(e.expr()), kernels=kernels,
        params=params, helpers=helpers, loop_kinds=LOOP_KINDS, fused=fused,
        param_vjp=any(k["vjp"] for k in kernels),
    )


def render_loss(env: jinja2.Environment, loss, d: DerivedActivation) -> tuple[str, list[str]]:
    """The loss module (its per-element kernels, then the reducing wrappers) and its public names."""
    params = [_param_context(p) for p in loss.params]
    kernels = [d.entry.name] + [loss.pointwise(v).name for v in loss.variants]  # main formula, then each variant
    grads = [{"name": name, "wrt": wrt, "elementwise": [f"{k}_{suffix}" for k in kernels]}
             for name, wrt, suffix in _loss_grads(loss)]
    torch_name = loss.name if loss.pytorch is not None else None
    defaults = {f.name: f.default for f in loss.flags}
    variants = [{"condition": f"flags == {v.key!r}",
                 "keywords": ", ".join(f"{n}={on}" for n, on in v.values if on != defaults[n]),
                 "doc": v.doc, "target": v.target, "input_domain": v.input_domain,
                 "formula": sp.sstr(loss.pointwise(v).expr())} for v in loss.variants]
    input_kinds = any(v.input_domain != loss.input_domain for v in loss.variants)
    reductions = list(loss.reductions)
    reduction_text = ", ".join(f"'{r}'" + {"mean": " (over all elements)", "batchmean": " (sum / input.shape[0])"}
                               .get(r, "") for r in reductions[:-1]) + f" or '{reductions[-1]}'"
    text = env.get_template("loss.py.j2").render(
        pointwise=render_activation(env, d).rstrip(), loss=loss, params=params, grads=grads,
        weighted=loss.weight, formula=sp.sstr(d.entry.expr()), torch=torch_name, variants=variants,
        input_kinds=input_kinds, variant_kernels=kernels[1:], reductions=reductions, reduction_text=reduction_text, notes=loss.notes)
    return text, [loss.name] + [g["name"] for g in grads]


def _loss_grads(loss) -> list[tuple[str, str, str]]:
    """(name, argument, suffix of the per-element kernel) of each gradient of a pointwise loss:
    ``name_grad`` w.r.t. input, ``name_grad_<second input>`` w.r.t. the second input."""
    if not loss.grad:
        return []
    second = [(f"{loss.name}_grad_{loss.second_input}", loss.second_input, f"grad_{loss.second_input}")]
    return [(f"{loss.name}_grad", "input", "grad")] + (second if loss.second_input else [])


def kernel_names(entry) -> list[str]:
    """Every public name (key of the package index) that a catalog entry — activation, vector function,
    pointwise loss or row loss — can put into a generated package: the naming rules in one list.

    A superset of what a given build emits (``name_grad_from_output`` only exists where the inverse
    does): the CLI checks user names against it before any work, and :func:`render_package` checks
    that every name it emits is listed here, so a new kind of kernel cannot slip past that check."""
    from ..catalog import Activation
    from ..catalog.losses import Loss
    from ..catalog.row_losses import RowLoss
    from ..catalog.vectors import VectorFunction

    n = entry.name
    if isinstance(entry, Activation):
        names = [n, f"{n}_grad", f"{n}_grad_from_output", f"{n}_fwd_grad", f"{n}_fwd_vjp", f"{n}_vjp"]
        for p in entry.learnable:
            names += [f"{n}_grad_{p.name}", f"{n}_vjp_{p.name}"]
        return names
    if isinstance(entry, VectorFunction):
        return [n, f"{n}_vjp"]
    if isinstance(entry, Loss):
        pointwise = [entry.pointwise()] + [entry.pointwise(v) for v in entry.variants]
        return [n] + [name for name, _, _ in _loss_grads(entry)] + [k for p in pointwise for k in kernel_names(p)]
    if isinstance(entry, RowLoss):
        return [n] + [name for name, _ in entry.grad_names] + [f"{n}_fwd_grad"]
    raise TypeError(f"not a catalog entry: {entry!r}")


class _Index(list):
    """(kernel name, module) pairs of the package; adding a name twice, or one that
    :func:`kernel_names` does not list for its entry, fails loudly (a clash would silently make one
    kernel unreachable)."""

    def __init__(self):
        super().__init__()
        self.owner: dict[str, str] = {}

    def add(self, entry, module: str, names) -> None:
        listed = set(kernel_names(entry))
        for name in names:
            if name not in listed:
                raise AssertionError(f"{entry.name} emits {name!r}, which emit.kernel_names does not list: "
                                     "add the new naming rule there (the CLI checks user names against it)")
            if name in self.owner:
                raise ValueError(f"two kernels named {name!r}: one from {self.owner[name]}, one from "
                                 f"{entry.name} ({module}); the package index would keep only one")
            self.owner[name] = f"{entry.name} ({module})"
            self.append((name, module))


@contextlib.contextmanager
def _entry_named(name: str):
    """A function the printer cannot print is an error naming the entry (exit status 2), at generate time."""
    from .numba import UnprintableFunction
    from ..userspec import SpecError

    try:
        yield
    except UnprintableFunction as exc:
        raise SpecError(f"{name}: {exc}") from None


def render_package(derived: list[DerivedActivation], package_hint: str = "symact.kernels",
                   vectors=(), losses=(), row_losses=()) -> dict[str, str]:
    """All files of the output package, as {relative path: text}.

    ``derived``: the activations; ``vectors``: VectorFunction entries (row-wise kernels);
    ``losses``: (Loss, its derived per-element entry) pairs; ``row_losses``: RowLoss entries.
    """
    from ..stabilize.rowwise import render_vector

    env = _environment()
    files = {"_runtime.py": render_runtime(env),
             "_dask.py": env.get_template("dask_runtime.py.j2").render(version=__version__),
             "activations/__init__.py": '"""Elementwise activations (generated by symact)."""\n'}
    index = _Index()
    for d in sorted(derived, key=lambda d: d.entry.name):
        module = f"activations.{d.entry.name}"
        with _entry_named(d.entry.name):
            files[f"{module.replace('.', '/')}.py"] = render_activation(env, d, vjp=True)
        index.add(d.entry, module, [k.name for k in d.kernels] + [name for name, _, _ in fused_kernels(d, vjp=True)]
                  + list(param_vjps(d)))
    if vectors or row_losses:
        files["_rowwise.py"] = env.get_template("rowwise_runtime.py.j2").render(version=__version__)
    if vectors:
        files["vectors/__init__.py"] = '"""Vector functions along an axis (generated by symact)."""\n'
        for fn in sorted(vectors, key=lambda f: f.name):
            with _entry_named(fn.name):
                files[f"vectors/{fn.name}.py"] = render_vector(env, fn, __version__)
            index.add(fn, f"vectors.{fn.name}", [fn.name, f"{fn.name}_vjp"])
    if losses:
        files["_losses.py"] = env.get_template("loss_runtime.py.j2").render(version=__version__)
        files["losses/__init__.py"] = '"""Losses with PyTorch semantics (generated by symact)."""\n'
        for loss, d in sorted(losses, key=lambda p: p[0].name):
            module = f"losses.{loss.name}"
            with _entry_named(loss.name):
                files[f"losses/{loss.name}.py"], names = render_loss(env, loss, d)
            index.add(loss, module, names + [k.name for k in d.kernels] + [name for name, _, _ in fused_kernels(d)])
    if row_losses:
        from ..derive.row_loss import render_row_loss

        files["_rowlosses.py"] = env.get_template("row_loss_runtime.py.j2").render(version=__version__)
        files.setdefault("losses/__init__.py", '"""Losses with PyTorch semantics (generated by symact)."""\n')
        for loss in sorted(row_losses, key=lambda r: r.name):
            with _entry_named(loss.name):
                files[f"losses/{loss.name}.py"], names = render_row_loss(env, loss, __version__)
            index.add(loss, f"losses.{loss.name}", names)
    files["__init__.py"] = env.get_template("package_init.py.j2").render(
        version=__version__, index=sorted(index), modules=sorted({m for _, m in index}),
        count=len(index), package_hint=package_hint)
    return files
