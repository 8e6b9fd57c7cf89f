/* SPDX-License-Identifier: BSD-3-Clause */
/* The reference lattice sums of ewald.h against values computed independently here:
 *  3D  Madelung constants of rock salt and caesium chloride (literature values); the same
 *      result at two splitting parameters, under lattice shifts of sources and targets, with
 *      and without a neutralising background; gradients against Richardson-extrapolated
 *      central differences of the potential.
 *  2D  two splitting parameters; the direct image sum over squares |R_x|,|R_y| <= N L,
 *      extrapolated to N -> oo (below); the far-field limits +-M_z / (2 L^2) of the header.
 *  1D  two splitting parameters; the direct image sum over |R| <= N L extrapolated to
 *      N -> oo; the Fourier-Bessel series in K0 (K0, K1 by the trapezoid rule here); the
 *      far field -(1/(2 pi L)) sum q ln rho_j -> 0 of the header.
 * Extrapolation of a direct sum: for a neutral cell the image of lattice vector R contributes
 * an analytic function of 1/|R| (its multipole expansion, convergent once |R| exceeds the
 * cell) whose leading term is a dipole, odd in R, so it cancels within each symmetric shell.
 * By Euler-Maclaurin along the shells, the remainder S_oo - S_N then has an asymptotic
 * expansion in integer powers of 1/N with no logarithms; polynomial extrapolation in 1/N
 * (Neville) over N = N0, 2 N0, ..., removes its leading terms. */
#include "ewald.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double PI = 3.14159265358979323846264338327950288;
static int failures = 0, checks = 0;

#define EXPECT(cond, ...)                                                                        \
  do {                                                                                           \
    checks++;                                                                                    \
    if (!(cond)) {                                                                               \
      failures++;                                                                                \
      fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, __LINE__, #cond);             \
      fprintf(stderr, __VA_ARGS__);                                                              \
      fprintf(stderr, "\n");                                                                     \
    }                                                                                            \
  } while (0)

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static double uniform(void) { /* splitmix64 */
  uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

/* n charges of both signs summing to zero, uniform in the cell */
static void random_neutral(int n, double L, const double o[3], double *q, double *x) {
  double s = 0;
  for (int j = 0; j < n; j++) {
    q[j] = 2 * uniform() - 1;
    s += q[j];
    for (int d = 0; d < 3; d++)
      x[3 * j + d] = o[d] + L * uniform();
  }
  for (int j = 0; j < n; j++)
    q[j] -= s / n;
  s = 0;
  for (int j = 0; j < n - 1; j++)
    s += q[j];
  q[n - 1] = -s;
}

/* max |a - b| / max |b| over cnt values */
static double rel(const double *a, const double *b, int cnt) {
  double e = 0, s = 0;
  for (int i = 0; i < cnt; i++) {
    e = fmax(e, fabs(a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return e / s;
}

/* polynomial through (x_k, v_k), k < K, at 0 (Neville) */
static double extrapolate(int K, const double *x, const double *v) {
  double P[16];
  memcpy(P, v, K * sizeof *P);
  for (int k = 1; k < K; k++)
    for (int i = K - 1; i >= k; i--)
      P[i] = (x[i] * P[i - 1] - x[i - k] * P[i]) / (x[i] - x[i - k]);
  return P[K - 1];
}

/* ------------------------------------------------------------------------ 3D */

static void rock_salt(void) {
  /* 2 x 2 x 2 conventional cells, a = 1, L = 2: 32 Na+ and 32 Cl-; nearest neighbours 0.5 */
  const double M = 1.747564594633182,
               base[8][3] = {{0, 0, 0},  {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                             {.5, 0, 0}, {0, .5, 0},  {0, 0, .5},  {.5, .5, .5}};
  double x[64 * 3], q[64], phi[64], g[192];
  const double o[3] = {0, 0, 0};
  int n = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 2; c++)
        for (int s = 0; s < 8; s++) {
          x[3 * n] = base[s][0] + a, x[3 * n + 1] = base[s][1] + b, x[3 * n + 2] = base[s][2] + c;
          q[n++] = s < 4 ? 1 : -1;
        }
  EXPECT(ewald3d(64, q, x, 64, x, 2.0, o, 0, phi, g) == 0, "ewald3d failed");
  double e = 0, eg = 0;
  for (int i = 0; i < 64; i++) {
    e = fmax(e, fabs(4 * PI * 0.5 * phi[i] + q[i] * M) / M);
    for (int d = 0; d < 3; d++)
      eg = fmax(eg, fabs(g[3 * i + d]));
  }
  printf("NaCl Madelung 1.747564594633182: max relative error %.2e, max |grad| %.2e\n", e, eg);
  EXPECT(e < 1e-12, "NaCl Madelung error %.3e", e);
  EXPECT(eg < 1e-12, "NaCl gradient %.3e", eg);
}

static void caesium_chloride(void) {
  /* 1.762674773070988 (OEIS A181152; 1.762674773070 is the same value cut to 13 digits).
   * 2 x 2 x 2 unit cubes, L = 2, translated off the lattice and the cell [o, o + L) moved:
   * Cs+ at the corners, Cl- at the centres; nearest neighbours sqrt(3)/2 */
  const double M = 1.762674773070988, dnn = sqrt(3.0) / 2, o[3] = {-1.3, 0.4, 7.0},
               t[3] = {0.31, -0.17, 0.05};
  double x[16 * 3], q[16], phi[16], g[48];
  int n = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 2; c++)
        for (int s = 0; s < 2; s++) {
          x[3 * n] = a + 0.5 * s + t[0], x[3 * n + 1] = b + 0.5 * s + t[1],
                x[3 * n + 2] = c + 0.5 * s + t[2];
          q[n++] = s ? -1 : 1;
        }
  EXPECT(ewald3d(16, q, x, 16, x, 2.0, o, 0, phi, g) == 0, "ewald3d failed");
  double e = 0, eg = 0;
  for (int i = 0; i < 16; i++) {
    e = fmax(e, fabs(4 * PI * dnn * phi[i] + q[i] * M) / M);
    for (int d = 0; d < 3; d++)
      eg = fmax(eg, fabs(g[3 * i + d]));
  }
  printf("CsCl Madelung 1.762674773070988: max relative error %.2e, max |grad| %.2e\n", e, eg);
  EXPECT(e < 1e-12, "CsCl Madelung error %.3e", e);
  EXPECT(eg < 1e-12, "CsCl gradient %.3e", eg);
}

enum { N3 = 24, M3 = 32 };

static void invariance3d(void) {
  const double L = 1.7, o[3] = {0.3, -1.2, 2.5};
  double q[N3], x[3 * N3], y[3 * M3], p1[M3], g1[3 * M3], p2[M3], g2[3 * M3];
  random_neutral(N3, L, o, q, x);
  memcpy(y, x, sizeof x); /* targets: the sources, then points in and around the cell */
  for (int i = N3; i < M3; i++)
    for (int d = 0; d < 3; d++)
      y[3 * i + d] = o[d] + L * (3 * uniform() - 1);
  EXPECT(ewald3d(N3, q, x, M3, y, L, o, 0, p1, g1) == 0, "ewald3d failed");
  EXPECT(ewald3d(N3, q, x, M3, y, L, o, 3.2 / L, p2, g2) == 0, "ewald3d failed");
  double ep = rel(p2, p1, M3), eg = rel(g2, g1, 3 * M3);
  printf("3D alpha L %.1f vs 3.2: potential %.2e, gradient %.2e\n", EWALD3D_ALPHA_L, ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "3D alpha dependence %.3e %.3e", ep, eg);

  /* lattice shifts: a source, a plain target, a target onto an image of a source */
  double xs[3 * N3], ys[3 * M3], p3[M3], g3[3 * M3];
  memcpy(xs, x, sizeof x);
  memcpy(ys, y, sizeof y);
  xs[3 * 3] += L, xs[3 * 3 + 1] -= 2 * L;
  ys[3 * 30 + 1] += L, ys[3 * 30 + 2] += 3 * L;
  ys[3 * 5] -= L, ys[3 * 5 + 2] += L; /* target 5 = source 5 + (-L, 0, L) */
  EXPECT(ewald3d(N3, q, xs, M3, ys, L, o, 0, p3, g3) == 0, "ewald3d failed");
  ep = rel(p3, p1, M3), eg = rel(g3, g1, 3 * M3);
  printf("3D lattice shifts: potential %.2e, gradient %.2e\n", ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "3D lattice shift %.3e %.3e", ep, eg);

  /* gradients: central differences at steps h, h/2, h/4, h/8 (h = L/100), extrapolated in
   * h^2, at points at least L/4 from every source image (remainder ~ (h / distance)^8 / 4096,
   * rounding ~ eps phi / (h / 8)) */
  enum { NF = 4, NH = 4 };
  double yr[3 * NF], pr[NF], gref[3 * NF], gfd[3 * NF], yf[NF * 3 * 2 * NH * 3],
      pf[NF * 3 * 2 * NH];
  const double h0 = 0.01 * L;
  for (int f = 0; f < NF; f++) {
    double dmin;
    do {
      for (int d = 0; d < 3; d++)
        yr[3 * f + d] = o[d] + L * (2 * uniform() - 0.5);
      dmin = INFINITY;
      for (int j = 0; j < N3; j++) {
        double r2 = 0;
        for (int d = 0; d < 3; d++) {
          const double t = yr[3 * f + d] - x[3 * j + d];
          r2 += pow(t - L * nearbyint(t / L), 2);
        }
        dmin = fmin(dmin, sqrt(r2));
      }
    } while (dmin < 0.25 * L);
  }
  int c = 0;
  for (int f = 0; f < NF; f++)
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < NH; s++)
        for (int sg = -1; sg <= 1; sg += 2, c++) {
          memcpy(yf + 3 * c, yr + 3 * f, 3 * sizeof(double));
          yf[3 * c + d] += sg * h0 / (1 << s);
        }
  EXPECT(ewald3d(N3, q, x, NF * 3 * 2 * NH, yf, L, o, 0, pf, NULL) == 0, "ewald3d failed");
  EXPECT(ewald3d(N3, q, x, NF, yr, L, o, 0, pr, gref) == 0, "ewald3d failed");
  c = 0;
  for (int f = 0; f < NF; f++)
    for (int d = 0; d < 3; d++) {
      double D[NH], hs[NH];
      for (int s = 0; s < NH; s++, c += 2) {
        hs[s] = pow(h0 / (1 << s), 2);
        D[s] = (pf[c + 1] - pf[c]) / (2 * h0 / (1 << s));
      }
      gfd[3 * f + d] = extrapolate(NH, hs, D);
    }
  eg = rel(gfd, gref, 3 * NF);
  printf("3D gradient against extrapolated differences: %.2e\n", eg);
  EXPECT(eg < 1e-11, "3D gradient vs differences %.3e", eg);

  /* not neutral: the background term keeps alpha out of it */
  q[2] += 0.7;
  EXPECT(ewald3d(N3, q, x, M3, y, L, o, 0, p1, g1) == 0, "ewald3d failed");
  EXPECT(ewald3d(N3, q, x, M3, y, L, o, 3.2 / L, p2, g2) == 0, "ewald3d failed");
  ep = rel(p2, p1, M3), eg = rel(g2, g1, 3 * M3);
  printf("3D charged (background): alpha dependence %.2e, gradient %.2e\n", ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "3D charged alpha dependence %.3e %.3e", ep, eg);
}

/* ------------------------------------------------------------------------ 2D */

/* squares up to N = 1024: the extrapolation's remainder sits below the rounding of the
 * direct sum (1e-14 of max |phi|; 7 levels from 8 leave 4e-12, 8 levels from 8 1.3e-13) */
enum { N2 = 10, M2 = 8, LEV2 = 9, N2MIN = 4 };

/* direct sum over the squares max(|a|,|b|) <= N at N = N2MIN 2^l, extrapolated: out[4 i..] */
static void direct2d(int n, const double *q, const double *x, int m, const double *y, double L,
                     double *out) {
  for (int i = 0; i < m; i++) {
    long double acc[4] = {0, 0, 0, 0};
    double xs[LEV2], v[4][LEV2];
    int lev = 0;
    const int Nmax = N2MIN << (LEV2 - 1);
    for (int M = 0; M <= Nmax; M++) {
      double sh[4] = {0, 0, 0, 0};
      for (int a = -M; a <= M; a++)
        for (int b = -M; b <= M; b += (abs(a) == M ? 1 : 2 * M)) {
          double c[4] = {0, 0, 0, 0};
          for (int j = 0; j < n; j++) {
            const double d[3] = {y[3 * i] - x[3 * j] - a * L, y[3 * i + 1] - x[3 * j + 1] - b * L,
                                 y[3 * i + 2] - x[3 * j + 2]};
            const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            if (r2 <= 1e-24 * L * L)
              continue;
            const double ri = 1 / sqrt(r2), t = q[j] * ri;
            c[0] += t;
            for (int k = 0; k < 3; k++)
              c[1 + k] -= t * ri * ri * d[k];
          }
          for (int k = 0; k < 4; k++)
            sh[k] += c[k];
          if (M == 0)
            break;
        }
      for (int k = 0; k < 4; k++)
        acc[k] += sh[k];
      if (M == N2MIN << lev) {
        xs[lev] = 1.0 / M;
        for (int k = 0; k < 4; k++)
          v[k][lev] = (double)acc[k] / (4 * PI);
        lev++;
      }
    }
    for (int k = 0; k < 4; k++)
      out[4 * i + k] = extrapolate(LEV2, xs, v[k]);
  }
}

static void slab(void) {
  const double L = 1.3, o[3] = {-0.4, 0.9, 0.2};
  double q[N2], x[3 * N2], y[3 * M2], p1[M2], g1[3 * M2], p2[M2], g2[3 * M2];
  random_neutral(N2, L, o, q, x);
  for (int i = 0; i < 3; i++) /* three targets on sources, one on an image of a source */
    memcpy(y + 3 * i, x + 3 * (2 * i), 3 * sizeof(double));
  y[3 * 2] += L, y[3 * 2 + 1] -= L;
  for (int i = 3; i < M2; i++)
    for (int d = 0; d < 3; d++)
      y[3 * i + d] = o[d] + L * uniform();
  y[3 * 6 + 2] = o[2] + 2.5 * L, y[3 * 7 + 2] = o[2] - 1.5 * L; /* off the slab */
  EXPECT(ewald2d(N2, q, x, M2, y, L, o, 0, p1, g1) == 0, "ewald2d failed");
  EXPECT(ewald2d(N2, q, x, M2, y, L, o, 2.5 / L, p2, g2) == 0, "ewald2d failed");
  double ep = rel(p2, p1, M2), eg = rel(g2, g1, 3 * M2);
  printf("2D alpha L %.1f vs 2.5: potential %.2e, gradient %.2e\n", EWALD2D_ALPHA_L, ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "2D alpha dependence %.3e %.3e", ep, eg);

  double dir[4 * M2], pd[M2], gd[3 * M2];
  direct2d(N2, q, x, M2, y, L, dir);
  for (int i = 0; i < M2; i++) {
    pd[i] = dir[4 * i];
    for (int d = 0; d < 3; d++)
      gd[3 * i + d] = dir[4 * i + 1 + d];
  }
  ep = rel(p1, pd, M2), eg = rel(g1, gd, 3 * M2);
  printf("2D against the extrapolated direct sum over squares: potential %.2e, gradient %.2e\n",
         ep, eg);
  EXPECT(ep < 1e-12 && eg < 1e-12, "2D vs direct %.3e %.3e", ep, eg);

  /* far field: +-M_z / (2 L^2) */
  double Mz = 0, yf[3 * 4], pf[4], gf[3 * 4];
  for (int j = 0; j < N2; j++)
    Mz += q[j] * x[3 * j + 2];
  for (int i = 0; i < 4; i++) {
    yf[3 * i] = o[0] + 3 * L * uniform(), yf[3 * i + 1] = o[1] - 2 * L * uniform();
    yf[3 * i + 2] = o[2] + (i % 2 ? -1 : 1) * (12 + 40 * i) * L;
  }
  EXPECT(ewald2d(N2, q, x, 4, yf, L, o, 0, pf, gf) == 0, "ewald2d failed");
  double ef = 0, egf = 0;
  for (int i = 0; i < 4; i++) {
    ef = fmax(ef, fabs(pf[i] - (i % 2 ? -1 : 1) * Mz / (2 * L * L)) / fabs(Mz / (2 * L * L)));
    for (int d = 0; d < 3; d++)
      egf = fmax(egf, fabs(gf[3 * i + d]) * L / fabs(Mz / (2 * L * L)));
  }
  printf("2D far field against +-M_z/(2 L^2): relative %.2e, gradient L/|phi| %.2e\n", ef, egf);
  EXPECT(ef < 1e-13 && egf < 1e-13, "2D far field %.3e %.3e", ef, egf);
  /* a non-neutral system is refused */
  q[0] += 0.1;
  EXPECT(ewald2d(N2, q, x, M2, y, L, o, 0, p1, g1) == -2, "charged slab accepted");
}

/* ------------------------------------------------------------------------ 1D */

enum { N1 = 7, M1 = 8, LEV1 = 8, N1MIN = 64 };

static void direct1d(int n, const double *q, const double *x, int m, const double *y, double L,
                     double *out) {
  for (int i = 0; i < m; i++) {
    long double acc[4] = {0, 0, 0, 0};
    double xs[LEV1], v[4][LEV1];
    int lev = 0;
    const int Nmax = N1MIN << (LEV1 - 1);
    for (int M = 0; M <= Nmax; M++) {
      for (int s = -1; s <= 1; s += 2) {
        if (M == 0 && s == 1)
          break;
        double c[4] = {0, 0, 0, 0};
        for (int j = 0; j < n; j++) {
          const double d[3] = {y[3 * i] - x[3 * j], y[3 * i + 1] - x[3 * j + 1],
                               y[3 * i + 2] - x[3 * j + 2] - s * M * L};
          const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
          if (r2 <= 1e-24 * L * L)
            continue;
          const double ri = 1 / sqrt(r2), t = q[j] * ri;
          c[0] += t;
          for (int k = 0; k < 3; k++)
            c[1 + k] -= t * ri * ri * d[k];
        }
        for (int k = 0; k < 4; k++)
          acc[k] += c[k];
      }
      if (M == N1MIN << lev) {
        xs[lev] = 1.0 / M;
        for (int k = 0; k < 4; k++)
          v[k][lev] = (double)acc[k] / (4 * PI);
        lev++;
      }
    }
    for (int k = 0; k < 4; k++)
      out[4 * i + k] = extrapolate(LEV1, xs, v[k]);
  }
}

/* K0(x) = int_0^oo exp(-x cosh t) dt, K1(x) = int_0^oo cosh t exp(-x cosh t) dt, x > 0, by the
 * trapezoid rule (integrand analytic in |Im t| < pi/2: error ~ exp(-pi^2 / step)) */
static void bessel_k01(double x, double *k0, double *k1) {
  const double tau = 0.05;
  double s0 = 0.5 * exp(-x), s1 = s0;
  for (int j = 1;; j++) {
    const double c = cosh(j * tau), e = exp(-x * c);
    s0 += e, s1 += c * e;
    if (x * (c - 1) > 60)
      break;
  }
  *k0 = tau * s0, *k1 = tau * s1;
}

/* the Fourier-Bessel series of ewald.h (alpha -> oo), for targets off the sources' lines */
static void fourier_bessel(int n, const double *q, const double *x, const double *y, double L,
                           double *p, double g[3]) {
  double s = 0, gs[3] = {0, 0, 0};
  for (int j = 0; j < n; j++) {
    const double d[3] = {y[0] - x[3 * j], y[1] - x[3 * j + 1], y[2] - x[3 * j + 2]};
    const double rho = hypot(d[0], d[1]);
    s -= q[j] * 2 / L * log(rho);
    double grho = -q[j] * 2 / L / rho, gz = 0; /* d/drho, d/dz */
    for (int k = 1;; k++) {
      const double h = 2 * PI * k / L;
      if (h * rho > 55)
        break;
      double k0, k1;
      bessel_k01(h * rho, &k0, &k1);
      s += q[j] * 4 / L * k0 * cos(h * d[2]);
      grho -= q[j] * 4 / L * h * k1 * cos(h * d[2]);
      gz -= q[j] * 4 / L * h * k0 * sin(h * d[2]);
    }
    gs[0] += grho * d[0] / rho, gs[1] += grho * d[1] / rho, gs[2] += gz;
  }
  *p = s / (4 * PI);
  for (int k = 0; k < 3; k++)
    g[k] = gs[k] / (4 * PI);
}

static void line(void) {
  const double L = 1.1, o[3] = {0.25, -0.6, -2.0};
  double q[N1], x[3 * N1], y[3 * M1], p1[M1], g1[3 * M1], p2[M1], g2[3 * M1];
  random_neutral(N1, L, o, q, x);
  memcpy(y, x, 3 * sizeof(double)); /* on source 0 */
  memcpy(y + 3, x + 3 * 4, 3 * sizeof(double));
  y[3 + 2] -= 2 * L; /* on an image of source 4 */
  memcpy(y + 6, x + 3 * 5, 3 * sizeof(double));
  y[6 + 2] += 0.37 * L; /* on the line of source 5 */
  for (int i = 3; i < M1; i++)
    for (int d = 0; d < 3; d++)
      y[3 * i + d] = o[d] + L * (2 * uniform() - 0.5);
  y[3 * 7] = o[0] + 3.5 * L;
  EXPECT(sum1d(N1, q, x, M1, y, L, o, 0, p1, g1) == 0, "sum1d failed");
  EXPECT(sum1d(N1, q, x, M1, y, L, o, 6.0 / L, p2, g2) == 0, "sum1d failed");
  double ep = rel(p2, p1, M1), eg = rel(g2, g1, 3 * M1);
  printf("1D alpha L %.1f vs 6.0: potential %.2e, gradient %.2e\n", SUM1D_ALPHA_L, ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "1D alpha dependence %.3e %.3e", ep, eg);
  EXPECT(sum1d(N1, q, x, M1, y, L, o, 1.5 / L, p2, g2) == 0, "sum1d failed");
  ep = rel(p2, p1, M1), eg = rel(g2, g1, 3 * M1);
  printf("1D alpha L %.1f vs 1.5: potential %.2e, gradient %.2e\n", SUM1D_ALPHA_L, ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "1D alpha dependence %.3e %.3e", ep, eg);

  double dir[4 * M1], pd[M1], gd[3 * M1];
  direct1d(N1, q, x, M1, y, L, dir);
  for (int i = 0; i < M1; i++) {
    pd[i] = dir[4 * i];
    for (int d = 0; d < 3; d++)
      gd[3 * i + d] = dir[4 * i + 1 + d];
  }
  ep = rel(p1, pd, M1), eg = rel(g1, gd, 3 * M1);
  printf("1D against the extrapolated direct sum: potential %.2e, gradient %.2e\n", ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "1D vs direct %.3e %.3e", ep, eg);

  /* Fourier-Bessel at targets at least 0.3 L off every source line, near and far */
  enum { MF = 6 };
  double yf[3 * MF], pf[MF], gf[3 * MF], pb[MF], gb[3 * MF];
  for (int i = 0; i < MF; i++) {
    double dmin;
    do {
      for (int d = 0; d < 3; d++)
        yf[3 * i + d] = o[d] + L * (3 * uniform() - 1);
      dmin = INFINITY;
      for (int j = 0; j < N1; j++)
        dmin = fmin(dmin, hypot(yf[3 * i] - x[3 * j], yf[3 * i + 1] - x[3 * j + 1]));
    } while (dmin < 0.3 * L);
  }
  yf[3 * 5] = o[0] + 40 * L; /* far: the series is the logarithm alone */
  EXPECT(sum1d(N1, q, x, MF, yf, L, o, 0, pf, gf) == 0, "sum1d failed");
  for (int i = 0; i < MF; i++)
    fourier_bessel(N1, q, x, yf + 3 * i, L, pb + i, gb + 3 * i);
  ep = rel(pf, pb, MF), eg = rel(gf, gb, 3 * MF);
  printf("1D against the Fourier-Bessel (K0) series: potential %.2e, gradient %.2e\n", ep, eg);
  EXPECT(ep < 1e-13 && eg < 1e-13, "1D vs Fourier-Bessel %.3e %.3e", ep, eg);
  ep = fabs(pf[5] - pb[5]) / fabs(pb[5]);
  printf("1D at rho = 40 L against -(1/(2 pi L)) sum q ln rho_j: %.2e\n", ep);
  EXPECT(ep < 1e-12, "1D far field %.3e", ep);

  /* the potential vanishes far from the axis as p_perp . rho / (2 pi L rho^2) */
  double px = 0, py = 0, yv[3] = {o[0] + 1e5 * L, o[1] + 0.5e5 * L, 0.3}, pv, gv[3];
  for (int j = 0; j < N1; j++)
    px += q[j] * x[3 * j], py += q[j] * x[3 * j + 1];
  EXPECT(sum1d(N1, q, x, 1, yv, L, o, 0, &pv, gv) == 0, "sum1d failed");
  const double rx = yv[0], ry = yv[1],
               dip = (px * rx + py * ry) / (2 * PI * L * (rx * rx + ry * ry));
  ep = fabs(pv - dip) / fabs(dip);
  printf("1D at rho = 1.1e5 L: phi %.3e against the dipole term %.3e (relative %.2e)\n", pv, dip,
         ep);
  EXPECT(ep < 1e-4, "1D decay %.3e", ep);
  q[0] += 0.1;
  EXPECT(sum1d(N1, q, x, M1, y, L, o, 0, p1, g1) == -2, "charged line accepted");
}

int main(void) {
  const clock_t t0 = clock();
  rock_salt();
  caesium_chloride();
  invariance3d();
  slab();
  line();
  printf("test_ewald_ref: %d checks, %d failed, %.2f s\n", checks, failures,
         (double)(clock() - t0) / CLOCKS_PER_SEC);
  return failures ? 1 : 0;
}
