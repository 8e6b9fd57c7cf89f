/* SPDX-License-Identifier: BSD-3-Clause */
/* Reference Ewald sums of 1/(4 pi r) in 3, 2 and 1 periodic directions; formulas, conventions
 * and parameters in ewald.h. Written for accuracy, not speed: sums over pairs and lattice
 * vectors in double precision with libm's erfc/erf/exp. */
#include "ewald.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>

static const double PI = 3.14159265358979323846264338327950288;
static const double SQRTPI = 1.77245385090551602729816748334114518;
static const double EULER_GAMMA = 0.57721566490153286060651209008240243;

/* d reduced to [-L/2, L/2] (the nearest image) */
static double wrap(double d, double L) { return d - L * nearbyint(d / L); }

/* arguments shared by the three sums; the charge sum in *Q */
static int check_args(size_t n, const double *q, const double *xyz, size_t m, const double *y,
                      double L, double *phi, int neutral, double *Q) {
  if (!(L > 0) || !isfinite(L))
    return -1;
  if (n > 0 && (!q || !xyz))
    return -1;
  if (m > 0 && (!y || !phi))
    return -1;
  double s = 0, a = 0;
  for (size_t j = 0; j < n; j++) {
    s += q[j];
    a += fabs(q[j]);
  }
  *Q = s;
  if (neutral && fabs(s) > 1e-12 * a)
    return -2;
  return 0;
}

/* sources wrapped into [origin, origin + L) along the periodic directions (mask bit d) */
static double *wrapped_sources(size_t n, const double *xyz, double L, const double origin[3],
                               int mask) {
  double *x = malloc((3 * n + 1) * sizeof *x);
  if (!x)
    return NULL;
  for (size_t j = 0; j < n; j++)
    for (int d = 0; d < 3; d++) {
      double o = origin ? origin[d] : 0.0, v = xyz[3 * j + d];
      if (mask >> d & 1) {
        v = o + (v - o) - L * floor((v - o) / L);
        if (v >= o + L) /* rounding at the upper face */
          v -= L;
      }
      x[3 * j + d] = v;
    }
  return x;
}

/* Real-space part: sum over images R (components ranging over the periodic directions in
 * mask) of q erfc(alpha |r+R|)/|r+R|, r the nearest-image displacement, leaving out the
 * coincident term and adding its smooth remainder -q 2 alpha / sqrt(pi). Kernel 1/r. */
static void real_space(double qj, const double r0[3], double L, double alpha, int mask, double *p,
                       double g[3]) {
  const double rc = EWALD_XI / alpha, rc2 = rc * rc;
  const int N = (int)ceil(rc / L + 0.5);
  double r[3];
  for (int d = 0; d < 3; d++)
    r[d] = (mask >> d & 1) ? wrap(r0[d], L) : r0[d];
  const int coincide = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) <= EWALD_COINCIDE * L;
  int lo[3], hi[3];
  for (int d = 0; d < 3; d++) {
    lo[d] = (mask >> d & 1) ? -N : 0;
    hi[d] = (mask >> d & 1) ? N : 0;
  }
  double sp = 0, sg[3] = {0, 0, 0};
  for (int a = lo[0]; a <= hi[0]; a++)
    for (int b = lo[1]; b <= hi[1]; b++)
      for (int c = lo[2]; c <= hi[2]; c++) {
        if (coincide && a == 0 && b == 0 && c == 0)
          continue;
        const double d[3] = {r[0] + a * L, r[1] + b * L, r[2] + c * L};
        const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (r2 >= rc2)
          continue;
        const double s = sqrt(r2), e = erfc(alpha * s) / s;
        sp += e;
        /* d/dr [erfc(alpha r)/r] / r */
        const double f = -(e + 2 * alpha / SQRTPI * exp(-alpha * alpha * r2)) / r2;
        for (int k = 0; k < 3; k++)
          sg[k] += f * d[k];
      }
  if (coincide)
    sp -= 2 * alpha / SQRTPI;
  *p += qj * sp;
  for (int k = 0; k < 3; k++)
    g[k] += qj * sg[k];
}

/* ------------------------------------------------------------------------------ 3D */

int ewald3d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
            const double origin[3], double alpha, double *phi, double *grad) {
  double Q;
  int st = check_args(n, q, xyz, m, y, L, phi, 0, &Q);
  if (st)
    return st;
  if (!(alpha > 0))
    alpha = EWALD3D_ALPHA_L / L;
  const double kc = 2 * alpha * EWALD_XI, dk = 2 * PI / L, V = L * L * L;
  const int K = (int)floor(kc / dk);
  const int W = 2 * K + 1;
  double *x = wrapped_sources(n, xyz, L, origin, 7);
  double *yt = wrapped_sources(m, y, L, origin, 7);
  /* e^{i t dk x_d} for t = -K..K: e[(3 j + d) W + t + K] */
  double complex *es = malloc((3 * n * W + 1) * sizeof *es);
  double complex *et = malloc((3 * m * W + 1) * sizeof *et);
  /* half of the k vectors (k and -k give conjugate terms): weights, vectors, S(k) */
  size_t nk_max = (size_t)W * W * W / 2 + 1;
  double *kw = malloc(nk_max * sizeof *kw), *kv = malloc(3 * nk_max * sizeof *kv);
  int *ki = malloc(3 * nk_max * sizeof *ki);
  double complex *S = malloc(nk_max * sizeof *S);
  if (!x || !yt || !es || !et || !kw || !kv || !ki || !S) {
    free(x), free(yt), free(es), free(et), free(kw), free(kv), free(ki), free(S);
    return -1;
  }
  for (size_t j = 0; j < n; j++)
    for (int d = 0; d < 3; d++)
      for (int t = -K; t <= K; t++) {
        const double a = t * dk * (x[3 * j + d] - (origin ? origin[d] : 0.0));
        es[(3 * j + d) * W + t + K] = cos(a) + I * sin(a);
      }
  for (size_t i = 0; i < m; i++)
    for (int d = 0; d < 3; d++)
      for (int t = -K; t <= K; t++) {
        const double a = t * dk * (yt[3 * i + d] - (origin ? origin[d] : 0.0));
        et[(3 * i + d) * W + t + K] = cos(a) + I * sin(a);
      }
  size_t nk = 0;
  for (int a = 0; a <= K; a++)
    for (int b = -K; b <= K; b++)
      for (int c = -K; c <= K; c++) {
        if (a == 0 && (b < 0 || (b == 0 && c <= 0)))
          continue; /* the other half, and k = 0 */
        const double k[3] = {a * dk, b * dk, c * dk};
        const double k2 = k[0] * k[0] + k[1] * k[1] + k[2] * k[2];
        if (k2 >= kc * kc)
          continue;
        /* factor 2 for -k */
        kw[nk] = 2 * 4 * PI / V * exp(-k2 / (4 * alpha * alpha)) / k2;
        for (int d = 0; d < 3; d++)
          kv[3 * nk + d] = k[d];
        ki[3 * nk] = a, ki[3 * nk + 1] = b, ki[3 * nk + 2] = c;
        /* S(k) = sum_j q_j e^{-i k.x_j} */
        double complex s = 0;
        for (size_t j = 0; j < n; j++)
          s += q[j] * conj(es[(3 * j) * W + a + K] * es[(3 * j + 1) * W + b + K] *
                           es[(3 * j + 2) * W + c + K]);
        S[nk++] = s;
      }
  const double inv4pi = 1 / (4 * PI);
  for (size_t i = 0; i < m; i++) {
    double p = 0, g[3] = {0, 0, 0};
    for (size_t j = 0; j < n; j++) {
      const double r[3] = {yt[3 * i] - x[3 * j], yt[3 * i + 1] - x[3 * j + 1],
                           yt[3 * i + 2] - x[3 * j + 2]};
      real_space(q[j], r, L, alpha, 7, &p, g);
    }
    double pr = 0, gr[3] = {0, 0, 0};
    for (size_t t = 0; t < nk; t++) {
      /* sum_j q_j e^{i k.(y - x_j)} */
      const double complex z = et[(3 * i) * W + ki[3 * t] + K] *
                               et[(3 * i + 1) * W + ki[3 * t + 1] + K] *
                               et[(3 * i + 2) * W + ki[3 * t + 2] + K] * S[t];
      pr += kw[t] * creal(z);
      const double sn = kw[t] * cimag(z);
      for (int d = 0; d < 3; d++)
        gr[d] -= sn * kv[3 * t + d];
    }
    p += pr - PI * Q / (alpha * alpha * V);
    phi[i] = inv4pi * p;
    if (grad)
      for (int d = 0; d < 3; d++)
        grad[3 * i + d] = inv4pi * (g[d] + gr[d]);
  }
  free(x), free(yt), free(es), free(et), free(kw), free(kv), free(ki), free(S);
  return 0;
}

/* ------------------------------------------------------------------------------ 2D */

/* exp(h z) erfc(h / (2 alpha) + alpha z), zero below 1e-290 (no overflow: where the erfc
 * argument is at most 26, h z <= 2 * 13^2) */
static double ef(double h, double z, double alpha) {
  const double x = h / (2 * alpha) + alpha * z;
  if (x > 26.0)
    return 0.0;
  return exp(h * z) * erfc(x);
}

int ewald2d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
            const double origin[3], double alpha, double *phi, double *grad) {
  double Q;
  int st = check_args(n, q, xyz, m, y, L, phi, 1, &Q);
  if (st)
    return st;
  if (!(alpha > 0))
    alpha = EWALD2D_ALPHA_L / L;
  const double kc = 2 * alpha * EWALD_XI, dk = 2 * PI / L, A = L * L;
  const int K = (int)floor(kc / dk);
  double *x = wrapped_sources(n, xyz, L, origin, 3);
  double *yt = wrapped_sources(m, y, L, origin, 3);
  if (!x || !yt) {
    free(x), free(yt);
    return -1;
  }
  const double inv4pi = 1 / (4 * PI);
  for (size_t i = 0; i < m; i++) {
    double p = 0, g[3] = {0, 0, 0};
    for (size_t j = 0; j < n; j++) {
      const double r[3] = {yt[3 * i] - x[3 * j], yt[3 * i + 1] - x[3 * j + 1],
                           yt[3 * i + 2] - x[3 * j + 2]};
      real_space(q[j], r, L, alpha, 3, &p, g);
      const double z = r[2];
      /* reciprocal part over half of the h != 0 (h and -h alike) */
      double pr = 0, gr[3] = {0, 0, 0};
      for (int a = 0; a <= K; a++)
        for (int b = -K; b <= K; b++) {
          if (a == 0 && b <= 0)
            continue;
          const double hx = a * dk, hy = b * dk, h = sqrt(hx * hx + hy * hy);
          if (h >= kc)
            continue;
          const double ep = ef(h, z, alpha), em = ef(h, -z, alpha);
          const double arg = hx * r[0] + hy * r[1], c = cos(arg), s = sin(arg);
          const double w = 2 * PI / (A * h);
          pr += w * c * (ep + em);
          gr[0] -= w * s * hx * (ep + em);
          gr[1] -= w * s * hy * (ep + em);
          gr[2] += w * c * h * (ep - em);
        }
      /* k = 0 */
      const double az = alpha * z;
      pr -= 2 * PI / A * (z * erf(az) + exp(-az * az) / (alpha * SQRTPI));
      gr[2] -= 2 * PI / A * erf(az);
      p += q[j] * pr;
      for (int d = 0; d < 3; d++)
        g[d] += q[j] * gr[d];
    }
    phi[i] = inv4pi * p;
    if (grad)
      for (int d = 0; d < 3; d++)
        grad[3 * i + d] = inv4pi * g[d];
  }
  free(x), free(yt);
  return 0;
}

/* ------------------------------------------------------------------------------ 1D */

/* Gauss-Legendre nodes and weights on [0, 1] (Newton on P_N from the Chebyshev guesses) */
static void gauss_legendre(int N, double *t, double *w) {
  for (int i = 0; i < (N + 1) / 2; i++) {
    double z = cos(PI * (i + 0.75) / (N + 0.5)), dp = 1;
    for (int it = 0; it < 100; it++) {
      double p0 = 1, p1 = z;
      for (int k = 2; k <= N; k++) {
        const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1, p1 = p2;
      }
      dp = N * (z * p1 - p0) / (z * z - 1);
      const double dz = p1 / dp;
      z -= dz;
      if (fabs(dz) < 1e-17)
        break;
    }
    {
      double p0 = 1, p1 = z; /* derivative at the converged node */
      for (int k = 2; k <= N; k++) {
        const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1, p1 = p2;
      }
      dp = N * (z * p1 - p0) / (z * z - 1);
    }
    const double wi = 2 / ((1 - z * z) * dp * dp);
    t[i] = 0.5 * (1 - z), w[i] = 0.5 * wi;
    t[N - 1 - i] = 0.5 * (1 + z), w[N - 1 - i] = 0.5 * wi;
  }
}

/* G0 = int_0^oo exp(-a e^-u - b e^u) du and G1 = int_0^oo e^-u exp(-a e^-u - b e^u) du,
 * a >= 0, b > 0, by Gauss-Legendre on [0, U], U = ln(45 / b): the tail beyond U is below
 * e^-45 / 45. Zero where b >= 45 or 2 sqrt(a b) > 50 (both below 1e-20). */
static void incomplete_bessel(double a, double b, const double *t, const double *w, double *G0,
                              double *G1) {
  *G0 = 0, *G1 = 0;
  if (b >= 45.0 || 4 * a * b > 2500.0)
    return;
  const double U = log(45.0 / b);
  double s0 = 0, s1 = 0;
  for (int i = 0; i < EWALD_GL_NODES; i++) {
    const double u = U * t[i], e = exp(-u);
    const double f = w[i] * exp(-a * e - b / e);
    s0 += f;
    s1 += f * e;
  }
  *G0 = U * s0, *G1 = U * s1;
}

/* Ein(x) = int_0^x (1 - e^-t)/t dt, x >= 0 */
static double ein(double x, const double *t, const double *w) {
  if (x <= 1.0) {
    double term = x, s = 0;
    for (int k = 1; k < 40; k++) {
      s += term / k;
      term *= -x / (k + 1);
      if (fabs(term) < 1e-20)
        break;
    }
    return s;
  }
  double e1, unused;
  incomplete_bessel(0.0, x, t, w, &e1, &unused); /* E1(x) */
  return e1 + log(x) + EULER_GAMMA;
}

/* Ein'(x) = (1 - e^-x) / x */
static double ein_prime(double x) { return x == 0 ? 1.0 : -expm1(-x) / x; }

int sum1d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
          const double origin[3], double alpha, double *phi, double *grad) {
  double Q;
  int st = check_args(n, q, xyz, m, y, L, phi, 1, &Q);
  if (st)
    return st;
  if (!(alpha > 0))
    alpha = SUM1D_ALPHA_L / L;
  const double kc = 2 * alpha * EWALD_XI, dk = 2 * PI / L, a2 = alpha * alpha;
  const int K = (int)floor(kc / dk);
  double t[EWALD_GL_NODES], w[EWALD_GL_NODES];
  gauss_legendre(EWALD_GL_NODES, t, w);
  double *x = wrapped_sources(n, xyz, L, origin, 4);
  double *yt = wrapped_sources(m, y, L, origin, 4);
  if (!x || !yt) {
    free(x), free(yt);
    return -1;
  }
  const double inv4pi = 1 / (4 * PI);
  for (size_t i = 0; i < m; i++) {
    double p = 0, g[3] = {0, 0, 0};
    for (size_t j = 0; j < n; j++) {
      const double r[3] = {yt[3 * i] - x[3 * j], yt[3 * i + 1] - x[3 * j + 1],
                           yt[3 * i + 2] - x[3 * j + 2]};
      real_space(q[j], r, L, alpha, 4, &p, g);
      const double rho2 = r[0] * r[0] + r[1] * r[1], a = a2 * rho2, z = r[2];
      double pr = 0, gz = 0, grho = 0; /* grho: d/d(rho vector) = grho * rho vector */
      for (int k = 1; k <= K; k++) {
        const double h = k * dk;
        if (h >= kc)
          break;
        double G0, G1;
        incomplete_bessel(a, h * h / (4 * a2), t, w, &G0, &G1);
        const double c = cos(h * z), s = sin(h * z);
        pr += 2 / L * c * G0;
        gz -= 2 / L * h * s * G0;
        grho -= 2 / L * c * 2 * a2 * G1;
      }
      pr -= ein(a, t, w) / L;
      grho -= ein_prime(a) * 2 * a2 / L;
      p += q[j] * pr;
      g[0] += q[j] * grho * r[0];
      g[1] += q[j] * grho * r[1];
      g[2] += q[j] * gz;
    }
    phi[i] = inv4pi * p;
    if (grad)
      for (int d = 0; d < 3; d++)
        grad[3 * i + d] = inv4pi * g[d];
  }
  free(x), free(yt);
  return 0;
}
