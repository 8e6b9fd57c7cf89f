/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm: the command-line program. `generate` writes a particle file, `run` evaluates the
 * potentials and gradients of a particle file into a result file, `info` describes a file. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kifmm.h"
#include "kifmm_io.h"
#include "kifmm_mpi.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static int g_rank = 0, g_size = 1, g_quiet = 0;
static double g_t0;

static const char *USAGE =
    "usage: kifmm <command> [options]\n"
    "\n"
    "commands:\n"
    "  generate --dist cube|sphere|ions --n N [--targets M] [--seed S]\n"
    "           [--kernel laplace|yukawa|stokes] [--periodic xyz|xy|z|none --cell L\n"
    "           [--origin x,y,z]] -o particles.h5\n"
    "      N uniform random sources with charges in [-0.5, 0.5) in the unit cube, or on the\n"
    "      sphere of radius 0.5 centred in it; --targets M adds M separate targets (default:\n"
    "      targets = sources). N and M accept 1e6 notation. --kernel stokes writes forces\n"
    "      /forces (N, 3) instead of /charges. --periodic/--cell/--origin put the points in\n"
    "      the cell [origin, origin + L)^3, record it in the file and make the system neutral\n"
    "      (charges, or each force component, sum to exactly 0). --dist ions: N (even) unit\n"
    "      charges, half +1 and half -1, uniform in the cell (default --periodic xyz).\n"
    "  run particles.h5 -o results.h5 [--order p] [--ncrit c] [--threads t] [--check K]\n"
    "      [--tol x] [--eps e] [--dry-run] [--no-cache] [--cache-dir DIR] [--quiet]\n"
    "      [--kernel laplace|yukawa|stokes] [--kappa K] [--viscosity MU]\n"
    "      [--periodic xyz|xy|z|none] [--cell L] [--origin x,y,z]\n"
    "      potentials and gradients at the targets by the FMM; progress on stderr, a summary\n"
    "      on stdout; --check K compares K sampled targets with the direct sum. --eps e asks\n"
    "      for a relative error instead of an order; --dry-run predicts memory and time and\n"
    "      evaluates nothing (-o not needed). Defaults: order 6, ncrit chosen from order and\n"
    "      distribution, threads from OMP_NUM_THREADS, no check. Under mpirun -n R each rank\n"
    "      reads, evaluates and writes its own share (give --ncrit to match one rank's\n"
    "      results); --dry-run needs one rank. --kernel yukawa needs --kappa K (>= 0),\n"
    "      --kernel stokes --viscosity MU (> 0) and a file with /forces (velocities and their\n"
    "      gradients are written). The cell comes from the file's attributes; --periodic,\n"
    "      --cell and --origin override them. --check is not available for periodic runs.\n"
    "  info file.h5\n"
    "      describe a particle or result file (kernel, cell, datasets, attributes).\n"
    "\n"
    "  kifmm --help | --version\n"
    "\n"
    "exit status: 0 success, 1 failure (one line on stderr), 2 bad command line.\n";

/* One line on stderr, from rank 0 only. */
static int failure(int code, const char *fmt, ...) {
  if (g_rank == 0) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kifmm: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
  }
  return code;
}

static int io_failure(int status) {
  const char *m = kifmm_io_error_message();
  return failure(EXIT_FAILED, "%s", m && *m ? m : kifmm_error_string(status));
}

/* A library call failed: its status message, and kifmm_error_detail() when it says more. */
static int lib_failure(const char *what, int status) {
  const char *d = kifmm_error_detail(), *m = kifmm_error_string(status);
  const char *paren = strstr(m, " (kifmm_error_detail()"); /* the detail follows instead */
  if (d && *d)
    return failure(EXIT_FAILED, "%s: %.*s: %s", what, paren ? (int)(paren - m) : (int)strlen(m),
                   m, d);
  return failure(EXIT_FAILED, "%s: %s", what, kifmm_error_string(status));
}

/* One line per phase: elapsed time at the end of the phase, the phase, what it did, and how
 * long it took. Phases inside one library call are reported when the call returns, stamped
 * with the time they ended (the call start plus the durations so far). */
static double g_at = -1; /* end of the phase being reported; < 0 means now */

static void progress(const char *phase, double seconds, const char *fmt, ...) {
  double at = g_at >= 0 ? g_at : MPI_Wtime() - g_t0;
  g_at = -1;
  if (g_quiet || g_rank != 0)
    return;
  char what[256] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  fprintf(stderr, "[%8.2f s] %-10s %-52s %9.3f s\n", at, phase, what, seconds);
}

static int parse_count(const char *s, int64_t *out) {
  char *end = NULL;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || end == s || *end || !(v >= 0) || v > 1e15 || v != floor(v))
    return 0;
  *out = (int64_t)v;
  return 1;
}

static int parse_int(const char *s, int *out) {
  char *end = NULL;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || end == s || *end || v < -2147483647L || v > 2147483647L)
    return 0;
  *out = (int)v;
  return 1;
}

static int parse_double(const char *s, double *out) {
  char *end = NULL;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || end == s || *end || !isfinite(v))
    return 0;
  *out = v;
  return 1;
}

/* laplace, yukawa or stokes */
static const char *const KERNEL_NAMES[] = {"laplace", "yukawa", "stokes"};

static int parse_kernel(const char *s, int32_t *kernel) {
  for (int32_t k = 0; s && k < 3; k++)
    if (!strcmp(s, KERNEL_NAMES[k])) {
      *kernel = k;
      return 1;
    }
  return 0;
}

static const char *kernel_str(int32_t k) { return k >= 0 && k < 3 ? KERNEL_NAMES[k] : "?"; }

/* "none" or the periodic directions, each of x, y, z at most once ("xyz", "xy", "z"). */
static int parse_periodic(const char *s, int32_t p[3]) {
  int32_t q[3] = {0, 0, 0};
  if (!s || !*s)
    return 0;
  if (strcmp(s, "none")) {
    for (const char *c = s; *c; c++) {
      if (*c < 'x' || *c > 'z' || q[*c - 'x'])
        return 0;
      q[*c - 'x'] = 1;
    }
  }
  memcpy(p, q, sizeof(q));
  return 1;
}

/* "xyz", "z", ... or "none" */
static const char *periodic_str(const int32_t p[3], char buf[4]) {
  int n = 0;
  for (int d = 0; d < 3; d++)
    if (p[d])
      buf[n++] = (char)('x' + d);
  buf[n] = '\0';
  return n ? buf : "none";
}

/* three finite numbers "x,y,z" */
static int parse_vec3(const char *s, double v[3]) {
  double w[3];
  const char *c = s;
  for (int d = 0; c && d < 3; d++) {
    char *end = NULL;
    w[d] = strtod(c, &end);
    if (end == c || !isfinite(w[d]) || *end != (d < 2 ? ',' : '\0'))
      return 0;
    c = end + 1;
  }
  if (!c)
    return 0;
  memcpy(v, w, sizeof(w));
  return 1;
}

static double peak_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

/* ---- generate ---- */
/* Counter-based random numbers: value number i of stream s depends on (seed, s, i) only, so
 * every rank generates its own slab and the file is the same for any number of ranks. */
static double uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull ^ (stream << 58) ^ (i + 1) * 0xd1b54a32d192ed03ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

/* Points of the distribution in the cube [origin, origin + L)^3 (the unit cube by default:
 * then the values are the plain uniform numbers). In a cell (clamp) a coordinate that rounds
 * up to origin + L is moved just below it, so every point lies in the half-open cell. */
static void make_points(int sphere, uint64_t seed, uint64_t stream, int64_t off, int64_t cnt,
                        const double origin[3], double len, int clamp, double *xyz) {
  for (int64_t j = 0; j < cnt; j++) {
    uint64_t i = (uint64_t)(off + j);
    double *p = xyz + 3 * j, u[3];
    if (sphere) {
      double z = 2 * uniform(seed, stream, 2 * i) - 1;
      double phi = 2 * 3.14159265358979323846 * uniform(seed, stream, 2 * i + 1);
      double r = sqrt(1 - z * z);
      u[0] = 0.5 + 0.5 * r * cos(phi);
      u[1] = 0.5 + 0.5 * r * sin(phi);
      u[2] = 0.5 + 0.5 * z;
    } else {
      for (int d = 0; d < 3; d++)
        u[d] = uniform(seed, stream, 3 * i + d);
    }
    for (int d = 0; d < 3; d++) {
      p[d] = origin[d] + len * u[d];
      if (clamp && p[d] >= origin[d] + len)
        p[d] = nextafter(origin[d] + len, -INFINITY);
      if (clamp && p[d] < origin[d])
        p[d] = origin[d];
    }
  }
}

/* Neutral densities, the same for any number of ranks: value k of pair i/2 is a multiple of
 * 2^-21 in [-0.5, 0.5), and the odd member of the pair carries its negative (the last of an
 * odd count carries 0). Every partial sum of such numbers is exact in double precision (for
 * fewer than 2^32 values), so the total is exactly 0 in any order of summation. */
static double neutral_value(uint64_t seed, uint64_t stream, int64_t i, int64_t n, int k, int dim) {
  if (n % 2 && i == n - 1)
    return 0.0;
  double u = floor(uniform(seed, stream, (uint64_t)(dim * (i / 2) + k)) * 0x1p21) * 0x1p-21 - 0.5;
  return i % 2 ? -u : u;
}

/* Ions: unit charges, +1 and -1 in each pair (which is which drawn at random). */
static double ion_charge(uint64_t seed, int64_t i) {
  double s = uniform(seed, 5, (uint64_t)(i / 2)) < 0.5 ? 1.0 : -1.0;
  return i % 2 ? -s : s;
}

static int cmd_generate(int argc, char **argv) {
  const char *dist = "cube", *out = NULL;
  int64_t n = -1, m = -1, seed = 42;
  int32_t kernel = KIFMM_KERNEL_LAPLACE, periodic[3] = {0, 0, 0};
  int has_periodic = 0, has_cell = 0, has_origin = 0;
  double cell = 1.0, origin[3] = {0, 0, 0};
  for (int i = 0; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = v != NULL;
    if (!strcmp(k, "--dist"))
      dist = v;
    else if (!strcmp(k, "--n"))
      ok = parse_count(v, &n);
    else if (!strcmp(k, "--targets"))
      ok = parse_count(v, &m);
    else if (!strcmp(k, "--seed"))
      ok = parse_count(v, &seed);
    else if (!strcmp(k, "--kernel"))
      ok = parse_kernel(v, &kernel);
    else if (!strcmp(k, "--periodic"))
      ok = has_periodic = parse_periodic(v, periodic);
    else if (!strcmp(k, "--cell"))
      ok = has_cell = parse_double(v, &cell) && cell > 0;
    else if (!strcmp(k, "--origin"))
      ok = has_origin = parse_vec3(v, origin);
    else if (!strcmp(k, "-o") || !strcmp(k, "--output"))
      out = v;
    else
      return failure(EXIT_USAGE, "generate: unknown option '%s' (see kifmm --help)", k);
    if (!ok) {
      if (!strcmp(k, "--kernel"))
        return failure(EXIT_USAGE, "generate: --kernel must be laplace, yukawa or stokes");
      if (!strcmp(k, "--periodic"))
        return failure(EXIT_USAGE, "generate: --periodic must be none or the periodic "
                                   "directions (xyz, xy, z, ...)");
      if (!strcmp(k, "--cell"))
        return failure(EXIT_USAGE, "generate: --cell L needs a finite L > 0");
      if (!strcmp(k, "--origin"))
        return failure(EXIT_USAGE, "generate: --origin needs three finite numbers x,y,z");
      return failure(EXIT_USAGE, "generate: %s needs a valid value", k);
    }
    i++;
  }
  if (!dist || (strcmp(dist, "cube") && strcmp(dist, "sphere") && strcmp(dist, "ions")))
    return failure(EXIT_USAGE, "generate: --dist must be cube, sphere or ions");
  if (n < 1)
    return failure(EXIT_USAGE, "generate: --n N (N >= 1) is required");
  if (!out)
    return failure(EXIT_USAGE, "generate: -o particles.h5 is required");
  int sphere = !strcmp(dist, "sphere"), ions = !strcmp(dist, "ions");
  if (ions && kernel == KIFMM_KERNEL_STOKES)
    return failure(EXIT_USAGE, "generate: --dist ions gives charges: use --kernel laplace or "
                               "yukawa, not stokes");
  if (ions && n % 2)
    return failure(EXIT_USAGE, "generate: --dist ions needs an even --n (half +1, half -1)");
  if (ions && !has_periodic) /* ions are for periodic runs */
    periodic[0] = periodic[1] = periodic[2] = 1, has_periodic = 1;
  int in_cell = has_periodic || has_cell || has_origin;
  int neutral = periodic[0] || periodic[1] || periodic[2];
  int dim = kernel == KIFMM_KERNEL_STOKES ? 3 : 1;
  double t = MPI_Wtime();
  int64_t so, sn, to = 0, tn = 0;
  kifmm_io_slab(n, g_size, g_rank, &so, &sn);
  if (m >= 0)
    kifmm_io_slab(m, g_size, g_rank, &to, &tn);
  double *src = malloc(sizeof(double) * (size_t)(3 * sn + 1)),
         *q = malloc(sizeof(double) * (size_t)(dim * sn + 1)),
         *trg = malloc(sizeof(double) * (size_t)(3 * tn + 1));
  int local_ok = src && q && trg, ok = 0;
  MPI_Allreduce(&local_ok, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!ok) {
    free(src), free(q), free(trg);
    return failure(EXIT_FAILED, "generate: out of memory for %lld points", (long long)n);
  }
  make_points(sphere, (uint64_t)seed, 0, so, sn, origin, cell, in_cell, src);
  make_points(sphere, (uint64_t)seed, 1, to, tn, origin, cell, in_cell, trg);
  for (int64_t j = 0; j < sn; j++)
    for (int c = 0; c < dim; c++) {
      int64_t i = so + j;
      if (ions)
        q[j] = ion_charge((uint64_t)seed, i);
      else if (neutral)
        q[dim * j + c] = neutral_value((uint64_t)seed, 2, i, n, c, dim);
      else /* the values of earlier versions for charges */
        q[dim * j + c] = uniform((uint64_t)seed, 2, (uint64_t)(dim * i + c)) - 0.5;
    }
  kifmm_particles_desc d = kifmm_io_particles_desc_default();
  d.nsrc = n;
  d.ntrg = m;
  d.has_targets = m >= 0;
  d.density_dim = dim;
  d.kernel = kernel;
  d.has_cell = in_cell;
  memcpy(d.periodic, periodic, sizeof(periodic));
  memcpy(d.cell_origin, origin, sizeof(origin));
  d.cell_length = cell;
  int s = kifmm_io_write_particles_desc(MPI_COMM_WORLD, out, &d, so, sn, src, q, to, tn, trg);
  free(src), free(q), free(trg);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  char pb[4];
  progress("generate", MPI_Wtime() - t, "%s: %lld %s %s, %s%s%s", out, (long long)n, dist,
           dim == 3 ? "forces" : ions ? "(unit charges)" : "sources", m >= 0 ? "separate targets" : "targets = sources",
           in_cell ? ", periodic " : "", in_cell ? periodic_str(periodic, pb) : "");
  return EXIT_OK;
}

/* ---- run ---- */
typedef struct run_args {
  const char *in, *out;
  kifmm_options opts;
  int64_t check;
  int dry_run;
  /* given on the command line: they override the file's cell */
  int has_kappa, has_viscosity, has_periodic, has_cell, has_origin;
  int32_t periodic[3];
  double kappa, viscosity, cell, origin[3];
} run_args;

/* Values per target of the run's kernel: 1 (Laplace, Yukawa) or 3 (Stokes velocity). */
static int value_dim(const kifmm_options *o) {
  int32_t v = 1;
  kifmm_kernel_dims(o->kernel, NULL, &v);
  return (int)v;
}

static int is_periodic(const kifmm_options *o) {
  return o->periodic[0] || o->periodic[1] || o->periodic[2];
}

/* Library phases as they happen (progress callback), under the names of the summary: the
 * library's p2m+m2m are "upward", its downward sweep (M2L, P2L, L2L) "M2L", l2p "downward",
 * m2p+p2p "near field". Long phases (operators) also report every tenth done. */
typedef struct {
  double started;
  int tenths;
} live_state;

static const char *summary_name(const char *phase) {
  static const char *const map[][2] = {{"m2m", "upward"}, {"downward", "M2L"},
                                       {"l2p", "downward"}, {"p2p", "near field"}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (!strcmp(phase, map[i][0]))
      return map[i][1];
  return !strcmp(phase, "p2m") || !strcmp(phase, "m2p") ? NULL : phase;
}

static void live_progress(const char *phase, double fraction, void *data) {
  live_state *s = data;
  double now = MPI_Wtime() - g_t0;
  int begins_group = !strcmp(phase, "p2m") || !strcmp(phase, "m2p") ||
                     (summary_name(phase) && strcmp(phase, "m2m") && strcmp(phase, "p2p"));
  if (fraction == 0.0) {
    if (begins_group)
      s->started = now;
    s->tenths = 0;
    return;
  }
  if (fraction < 1.0) {
    int tenths = (int)(fraction * 10);
    const char *name = summary_name(phase);
    if (!g_quiet && g_rank == 0 && tenths > s->tenths && name)
      fprintf(stderr, "[%8.2f s] %-10s %3d %%\n", now, name, 10 * tenths);
    s->tenths = tenths;
    return;
  }
  const char *name = summary_name(phase);
  if (name)
    progress(name, now - s->started, "%s", "");
}

static int parse_run(int argc, char **argv, run_args *a) {
  a->in = a->out = NULL;
  a->opts = kifmm_default_options();
  a->check = 0;
  a->dry_run = 0;
  a->has_kappa = a->has_viscosity = a->has_periodic = a->has_cell = a->has_origin = 0;
  a->kappa = a->viscosity = 0;
  for (int i = 0; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = v != NULL;
    if (!strcmp(k, "--quiet")) {
      g_quiet = 1;
      continue;
    } else if (!strcmp(k, "--no-cache")) {
      a->opts.use_cache = 0;
      continue;
    } else if (!strcmp(k, "--dry-run")) {
      a->dry_run = 1;
      continue;
    } else if (k[0] != '-') {
      if (a->in)
        return failure(EXIT_USAGE, "run: more than one input file ('%s', '%s')", a->in, k);
      a->in = k;
      continue;
    } else if (!strcmp(k, "-o") || !strcmp(k, "--output"))
      a->out = v;
    else if (!strcmp(k, "--order"))
      ok = parse_int(v, &a->opts.order);
    else if (!strcmp(k, "--ncrit"))
      ok = parse_int(v, &a->opts.ncrit);
    else if (!strcmp(k, "--threads"))
      ok = parse_int(v, &a->opts.num_threads);
    else if (!strcmp(k, "--check"))
      ok = parse_count(v, &a->check);
    else if (!strcmp(k, "--eps")) {
      char *end = NULL;
      a->opts.tolerance = v ? strtod(v, &end) : 0;
      ok = v && end != v && !*end;
    } else if (!strcmp(k, "--tol")) {
      char *end = NULL;
      a->opts.compression_tol = v ? strtod(v, &end) : 0;
      ok = v && end != v && !*end;
    } else if (!strcmp(k, "--cache-dir")) {
      ok = v && strlen(v) < sizeof(a->opts.cache_dir);
      if (ok)
        strcpy(a->opts.cache_dir, v);
    } else if (!strcmp(k, "--kernel")) {
      if (!parse_kernel(v, &a->opts.kernel))
        return failure(EXIT_USAGE, "run: --kernel must be laplace, yukawa or stokes");
    } else if (!strcmp(k, "--kappa")) {
      if (!(a->has_kappa = parse_double(v, &a->kappa)) || a->kappa < 0)
        return failure(EXIT_USAGE, "run: --kappa K needs a finite K >= 0");
    } else if (!strcmp(k, "--viscosity")) {
      if (!(a->has_viscosity = parse_double(v, &a->viscosity)) || !(a->viscosity > 0))
        return failure(EXIT_USAGE, "run: --viscosity MU needs a finite MU > 0");
    } else if (!strcmp(k, "--periodic")) {
      if (!(a->has_periodic = parse_periodic(v, a->periodic)))
        return failure(EXIT_USAGE, "run: --periodic must be none or the periodic directions "
                                   "(xyz, xy, z, ...)");
    } else if (!strcmp(k, "--cell")) {
      if (!(a->has_cell = parse_double(v, &a->cell)) || !(a->cell > 0))
        return failure(EXIT_USAGE, "run: --cell L needs a finite L > 0");
    } else if (!strcmp(k, "--origin")) {
      if (!(a->has_origin = parse_vec3(v, a->origin)))
        return failure(EXIT_USAGE, "run: --origin needs three finite numbers x,y,z");
    } else
      return failure(EXIT_USAGE, "run: unknown option '%s' (see kifmm --help)", k);
    if (!ok)
      return failure(EXIT_USAGE, "run: %s needs a valid value", k);
    i++;
  }
  /* the kernel's parameter: required, and only for its kernel */
  int32_t kern = a->opts.kernel;
  if (a->has_kappa && kern != KIFMM_KERNEL_YUKAWA)
    return failure(EXIT_USAGE, "run: --kappa is the Yukawa screening: it needs --kernel yukawa");
  if (a->has_viscosity && kern != KIFMM_KERNEL_STOKES)
    return failure(EXIT_USAGE, "run: --viscosity is the Stokes viscosity: it needs --kernel stokes");
  if (kern == KIFMM_KERNEL_YUKAWA && !a->has_kappa)
    return failure(EXIT_USAGE, "run: --kernel yukawa needs --kappa K (K >= 0)");
  if (kern == KIFMM_KERNEL_STOKES && !a->has_viscosity)
    return failure(EXIT_USAGE, "run: --kernel stokes needs --viscosity MU (MU > 0)");
  a->opts.kernel_param = kern == KIFMM_KERNEL_YUKAWA ? a->kappa
                         : kern == KIFMM_KERNEL_STOKES ? a->viscosity : 0.0;
  if (!a->in)
    return failure(EXIT_USAGE, "run: an input particle file is required");
  if (!a->out && !a->dry_run)
    return failure(EXIT_USAGE, "run: -o results.h5 is required");
  const kifmm_options *o = &a->opts;
  if (o->order < KIFMM_MIN_ORDER || o->order > KIFMM_MAX_ORDER)
    return failure(EXIT_USAGE, "run: --order must be in [%d, %d]", KIFMM_MIN_ORDER,
                   KIFMM_MAX_ORDER);
  if (o->ncrit < 0 || o->num_threads < 0)
    return failure(EXIT_USAGE, "run: --ncrit must be >= 0 (0 = chosen) and --threads >= 0");
  if (!(o->compression_tol >= 0 && o->compression_tol < 1))
    return failure(EXIT_USAGE, "run: --tol must be 0 (automatic) or in (0, 1)");
  /* the sampled rows travel in one MPI message of (3 + 4 V) K doubles, V values per target */
  int row = 3 + 4 * value_dim(o);
  if (a->check > INT_MAX / row)
    return failure(EXIT_USAGE, "run: --check K must be at most %d", INT_MAX / row);
  if (a->out && !strcmp(a->in, a->out))
    return failure(EXIT_USAGE, "run: the output must not overwrite the input");
  return EXIT_OK;
}

/* This rank's slabs: sources [src_off, src_off + nsrc_loc) and targets [trg_off, trg_off +
 * ntrg_loc) of the file's global nsrc and ntrg; one rank holds everything. */
typedef struct particles {
  int64_t nsrc, ntrg;
  int has_targets;
  int dim, vdim; /* density components per source, value components per target */
  int64_t src_off, nsrc_loc, trg_off, ntrg_loc;
  double *src, *q, *trg, *pot, *grad;
} particles;

static void particles_free(particles *p) {
  free(p->src), free(p->q), free(p->trg), free(p->pot), free(p->grad);
}

/* Every rank must agree before a collective call follows, or one rank's failure hangs the rest. */
static int all_ok(int local_ok) {
  int ok = 0;
  MPI_Allreduce(&local_ok, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return ok;
}

/* The cell of the run: the file's attributes, then the command line's overrides. */
static int resolve_cell(run_args *a, const kifmm_particles_desc *d) {
  kifmm_options *o = &a->opts;
  int have_length = d->has_cell;
  if (d->has_cell) {
    memcpy(o->periodic, d->periodic, sizeof(o->periodic));
    memcpy(o->cell_origin, d->cell_origin, sizeof(o->cell_origin));
    o->cell_length = d->cell_length;
  }
  if (a->has_periodic)
    memcpy(o->periodic, a->periodic, sizeof(o->periodic));
  if (a->has_cell)
    o->cell_length = a->cell, have_length = 1;
  if (a->has_origin)
    memcpy(o->cell_origin, a->origin, sizeof(o->cell_origin));
  if (is_periodic(o) && !have_length)
    return failure(EXIT_USAGE,
                   "run: a periodic run needs the cell: --cell L (and --origin x,y,z, default "
                   "0,0,0), or a particle file that records it (%s does not)", a->in);
  if (is_periodic(o) && a->check > 0)
    return failure(EXIT_USAGE, "run: --check is not available for periodic runs (no Ewald "
                               "reference in the program yet); run without --check");
  return EXIT_OK;
}

static int read_input(run_args *a, particles *p) {
  double t = MPI_Wtime();
  kifmm_particles_desc d;
  int s = kifmm_io_particles_describe(MPI_COMM_WORLD, a->in, &d);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  int stokes = a->opts.kernel == KIFMM_KERNEL_STOKES;
  if (d.density_dim == 3 && !stokes)
    return failure(EXIT_FAILED,
                   "%s holds /forces (N, 3), the forces of a Stokes problem, and no /charges: "
                   "a %s run needs charges (run it with --kernel stokes --viscosity MU)",
                   a->in, kernel_str(a->opts.kernel));
  if (d.density_dim == 1 && stokes)
    return failure(EXIT_FAILED,
                   "%s holds /charges and no /forces: a Stokes run needs forces /forces (N, 3) "
                   "(kifmm generate --kernel stokes writes them)", a->in);
  int rc = resolve_cell(a, &d);
  if (rc != EXIT_OK)
    return rc;
  p->nsrc = d.nsrc;
  p->ntrg = d.ntrg;
  p->has_targets = d.has_targets;
  p->dim = d.density_dim;
  p->vdim = value_dim(&a->opts);
  kifmm_io_slab(p->nsrc, g_size, g_rank, &p->src_off, &p->nsrc_loc);
  /* without /targets the targets are the sources: the same slab, so each rank's targets are
   * its own sources (kifmm_io_read_particles then reads them from /sources) */
  if (p->has_targets)
    kifmm_io_slab(p->ntrg, g_size, g_rank, &p->trg_off, &p->ntrg_loc);
  else
    p->trg_off = p->src_off, p->ntrg_loc = p->nsrc_loc;
  int64_t n = p->nsrc_loc, m = p->ntrg_loc, dim = p->dim, vdim = p->vdim;
  p->src = malloc(sizeof(double) * (size_t)(3 * n + 1));
  p->q = malloc(sizeof(double) * (size_t)(dim * n + 1));
  p->trg = malloc(sizeof(double) * (size_t)(3 * m + 1));
  p->pot = malloc(sizeof(double) * (size_t)(vdim * m + 1));
  p->grad = malloc(sizeof(double) * (size_t)(3 * vdim * m + 1));
  if (!all_ok(p->src && p->q && p->trg && p->pot && p->grad))
    return failure(EXIT_FAILED, "out of memory for %lld sources and %lld targets",
                   (long long)p->nsrc, (long long)p->ntrg);
  s = kifmm_io_read_particles_density(MPI_COMM_WORLD, a->in, (int32_t)dim, p->src_off, n,
                                      p->src, p->q, p->trg_off, m, p->trg);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  progress("read", MPI_Wtime() - t, "%s: N=%lld M=%lld%s", a->in, (long long)p->nsrc,
           (long long)p->ntrg, p->has_targets ? "" : " (targets = sources)");
  return EXIT_OK;
}

/* The K sampled targets (global indices i * (ntrg / K)) with their FMM results, known to
 * every rank: each rank fills the rows it owns, zeros elsewhere, and a sum completes them.
 * Row i of y (w = 3 + 4 V doubles): x, y, z, the V values, the 3 V gradient components. */
static void gather_samples(const particles *p, int64_t k, double *y) {
  int64_t stride = p->ntrg / k, v = p->vdim, w = 3 + 4 * v;
  memset(y, 0, sizeof(double) * (size_t)(w * k));
  for (int64_t i = 0; i < k; i++) {
    int64_t j = i * stride - p->trg_off;
    if (j < 0 || j >= p->ntrg_loc)
      continue;
    memcpy(y + w * i, p->trg + 3 * j, 3 * sizeof(double));
    memcpy(y + w * i + 3, p->pot + v * j, (size_t)v * sizeof(double));
    memcpy(y + w * i + 3 + v, p->grad + 3 * v * j, (size_t)(3 * v) * sizeof(double));
  }
  MPI_Allreduce(MPI_IN_PLACE, y, (int)(w * k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

/* Direct sums of the Yukawa and Stokes kernels (kifmm.h's table), for --check: pot[V t + i]
 * and grad[3 V t + 3 i + l] at nt targets y over ns sources x with densities q (dim per
 * source). Pairs at distance 0 are skipped. The library's kifmm_direct serves Laplace. */
static void direct_kernel(int32_t kernel, double param, int64_t ns, const double *x,
                          const double *q, int64_t nt, const double *y, double *pot,
                          double *grad) {
  const double inv4pi = 0.25 / 3.14159265358979323846;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t t = 0; t < nt; t++) {
    double u[3] = {0, 0, 0}, g[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < ns; j++) {
      double r[3] = {y[3 * t] - x[3 * j], y[3 * t + 1] - x[3 * j + 1], y[3 * t + 2] - x[3 * j + 2]};
      double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
      if (r2 == 0)
        continue;
      double rn = sqrt(r2), ir = 1 / rn, ir3 = ir * ir * ir;
      if (kernel == KIFMM_KERNEL_YUKAWA) {
        double e = exp(-param * rn);
        u[0] += q[j] * e * ir;
        double c = -q[j] * e * (1 + param * rn) * ir3; /* d/dy (e^{-kr}/r) = c r */
        for (int l = 0; l < 3; l++)
          g[l] += c * r[l];
      } else { /* Stokes: u_i = (f_i / r + r_i (r.f) / r^3) */
        const double *f = q + 3 * j;
        double rf = r[0] * f[0] + r[1] * f[1] + r[2] * f[2];
        for (int i = 0; i < 3; i++) {
          u[i] += f[i] * ir + r[i] * rf * ir3;
          for (int l = 0; l < 3; l++) /* d u_i / d y_l */
            g[3 * i + l] += (-f[i] * r[l] + (i == l ? rf : 0.0) + r[i] * f[l]) * ir3 -
                            3 * r[i] * r[l] * rf * ir3 * ir * ir;
        }
      }
    }
    double c = kernel == KIFMM_KERNEL_YUKAWA ? inv4pi : inv4pi / (2 * param);
    int v = kernel == KIFMM_KERNEL_STOKES ? 3 : 1;
    for (int i = 0; i < v; i++)
      pot[v * t + i] = c * u[i];
    for (int i = 0; i < 3 * v; i++)
      grad[3 * v * t + i] = c * g[i];
  }
}

/* Direct sum at the sampled targets over all sources, no rank holding them all: each rank sums
 * over its own slab and the partial sums are added. [out] d: V k values, then 3 V k gradients. */
static int distributed_direct(const run_args *a, const particles *p, int64_t k, const double *y,
                              double *d) {
  int64_t v = p->vdim, w = 3 + 4 * v;
  double *xyz = malloc(sizeof(double) * (size_t)(3 * k));
  int s = xyz ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  memset(d, 0, sizeof(double) * (size_t)(4 * v * k));
  if (xyz) {
    for (int64_t i = 0; i < k; i++)
      memcpy(xyz + 3 * i, y + w * i, 3 * sizeof(double));
    if (p->nsrc_loc > 0 && a->opts.kernel == KIFMM_KERNEL_LAPLACE) /* a rank without sources
                                                                      contributes zeros */
      s = kifmm_direct(p->nsrc_loc, p->src, p->q, k, xyz, d, d + k, a->opts.num_threads);
    else if (p->nsrc_loc > 0)
      direct_kernel(a->opts.kernel, a->opts.kernel_param, p->nsrc_loc, p->src, p->q, k, xyz, d,
                    d + v * k);
  }
  free(xyz);
  int worst = 0;
  MPI_Allreduce(&s, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (worst != KIFMM_SUCCESS)
    return worst;
  MPI_Allreduce(MPI_IN_PLACE, d, (int)(4 * v * k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return KIFMM_SUCCESS;
}

/* Relative l2 errors on K evenly spaced targets against the direct sum (over all components of
 * the values and of the gradients). */
static int sampled_errors(const run_args *a, const particles *p, kifmm_result_meta *m) {
  int64_t k = a->check < p->ntrg ? a->check : p->ntrg, v = p->vdim, w = 3 + 4 * v;
  if (k <= 0)
    return EXIT_OK;
  double t = MPI_Wtime();
  double *y = malloc(sizeof(double) * (size_t)((w + 4 * v) * k));
  if (!all_ok(y != NULL)) {
    free(y);
    return failure(EXIT_FAILED, "out of memory for --check %lld", (long long)k);
  }
  double *dp = y + w * k, *dg = dp + v * k;
  gather_samples(p, k, y);
  int s = distributed_direct(a, p, k, y, dp);
  if (s != KIFMM_SUCCESS) {
    free(y);
    return failure(EXIT_FAILED, "direct sum for --check: %s", kifmm_error_string(s));
  }
  double ep = 0, np = 0, eg = 0, ng = 0;
  for (int64_t i = 0; i < k; i++) {
    const double *r = y + w * i;
    for (int64_t c = 0; c < v; c++) {
      double e = r[3 + c] - dp[v * i + c];
      ep += e * e;
      np += dp[v * i + c] * dp[v * i + c];
    }
    for (int64_t c = 0; c < 3 * v; c++) {
      double e = r[3 + v + c] - dg[3 * v * i + c];
      eg += e * e;
      ng += dg[3 * v * i + c] * dg[3 * v * i + c];
    }
  }
  free(y);
  m->check_count = k;
  m->err_potential = np > 0 ? sqrt(ep / np) : sqrt(ep);
  m->err_gradient = ng > 0 ? sqrt(eg / ng) : sqrt(eg);
  progress("check", MPI_Wtime() - t, "%lld targets vs direct sum: %s %.2e grad %.2e",
           (long long)k, v == 3 ? "vel" : "pot", m->err_potential, m->err_gradient);
  return EXIT_OK;
}

static const char *cache_name(int r) {
  switch (r) {
  case KIFMM_CACHE_NOT_USED: return "not used";
  case KIFMM_CACHE_HIT: return "hit (loaded)";
  case KIFMM_CACHE_STORED: return "computed and stored";
  case KIFMM_CACHE_REBUILT: return "rebuilt (bad file replaced)";
  case KIFMM_CACHE_NOT_STORED: return "computed (cache not writable)";
  default: return "?";
  }
}

/* Peak memory and plan size of the largest rank, in MB, and the most any rank sent and
 * received (MB) and waited for messages in the last evaluation and took to partition (s);
 * collective. */
typedef struct {
  double peak_mb, plan_mb;
  double sent_mb, received_mb, t_comm_wait, t_partition;
} memory_use;

static memory_use largest_memory(const kifmm_stats *st) {
  double v[6] = {peak_mb(), st->bytes / 1048576.0, st->bytes_sent / 1048576.0,
                 st->bytes_received / 1048576.0, st->t_comm_wait, st->t_partition};
  MPI_Allreduce(MPI_IN_PLACE, v, 6, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return (memory_use){v[0], v[1], v[2], v[3], v[4], v[5]};
}

static void summary(const run_args *a, const kifmm_stats *st, const kifmm_result_meta *m,
                    memory_use mem, double total) {
  if (g_quiet || g_rank != 0)
    return;
  printf("kifmm %s run summary\n", kifmm_version());
  printf("  %-22s %s -> %s\n", "files", a->in, a->out);
  printf("  %-22s %lld\n", "N (sources)", (long long)m->nsrc);
  printf("  %-22s %lld\n", "M (targets)", (long long)m->ntrg);
  printf("  %-22s %d (%d points per surface, M2L rank %d)\n", "order", m->order, st->nsurf,
         st->m2l_rank);
  printf("  %-22s %d\n", "ncrit", m->ncrit);
  printf("  %-22s %d\n", "threads", m->num_threads);
  if (m->kernel != KIFMM_KERNEL_LAPLACE) /* Laplace summaries keep their old rows */
    printf("  %-22s %s (%s %g)\n", "kernel", kernel_str(m->kernel),
           m->kernel == KIFMM_KERNEL_STOKES ? "viscosity" : "kappa", m->kernel_param);
  if (m->periodic[0] || m->periodic[1] || m->periodic[2]) {
    char pb[4];
    printf("  %-22s %s, cell [%g, %g, %g] + %g\n", "periodic", periodic_str(m->periodic, pb),
           m->cell_origin[0], m->cell_origin[1], m->cell_origin[2], m->cell_length);
  }
  if (m->nranks > 1) /* one-rank summaries keep their old rows */
    printf("  %-22s %d (boxes: largest local tree, times: slowest rank)\n", "MPI ranks",
           m->nranks);
  printf("  %-22s %lld (%lld leaves)\n", "boxes", (long long)m->nboxes, (long long)m->nleaves);
  printf("  %-22s %d\n", "depth", m->depth);
  printf("  %-22s %s\n", "operator cache", cache_name(m->cache_result));
  printf("  %-22s %s\n", "SIMD path", st->simd);
  printf("  %-22s %s precision, %s\n", "near field", st->near_precision == 32 ? "single" : "double",
         st->near_symmetric ? "both ways" : "one way");
  printf("  %-22s %s (kernel %s)\n", "BLAS", st->blas, st->blas_core[0] ? st->blas_core : "?");
  const struct { const char *name; double t; } ph[] = {
      {"time tree", m->t_tree},          {"time lists", m->t_lists},
      {"time operators", m->t_operators}, {"time upward", m->t_upward},
      {"time M2L", m->t_m2l},             {"time downward", m->t_downward},
      {"time near field", m->t_near},     {"time evaluate (all)", m->t_evaluate}};
  for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
    printf("  %-22s %9.3f s\n", ph[i].name, ph[i].t);
  printf("  %-22s %9.3f s\n", "time total (wall)", total);
  if (m->nranks > 1) {
    printf("  %-22s %9.3f s (part of time tree)\n", "time partition", mem.t_partition);
    printf("  %-22s %9.3f s (last evaluation)\n", "time waiting for MPI", mem.t_comm_wait);
    printf("  %-22s %9.1f MB sent, %.1f MB received (largest rank, last evaluation)\n",
           "MPI traffic", mem.sent_mb, mem.received_mb);
  }
  printf("  %-22s %9.1f MB (plan %.1f MB)%s\n", "peak memory", mem.peak_mb, mem.plan_mb,
         m->nranks > 1 ? " on the largest rank" : "");
  if (m->check_count > 0) {
    int stokes = m->kernel == KIFMM_KERNEL_STOKES;
    printf("  %-22s %.3e (relative l2, %lld targets)\n",
           stokes ? "error velocity" : "error potential", m->err_potential,
           (long long)m->check_count);
    printf("  %-22s %.3e\n", stokes ? "error velocity grad" : "error gradient",
           m->err_gradient);
  }
  fflush(stdout);
}

/* The meta of a distributed plan describes this rank's local tree: make it describe the run,
 * the same on every rank (global counts, the largest tree, the slowest rank's times). */
static void globalize_meta(const particles *p, kifmm_result_meta *m) {
  m->nsrc = p->nsrc;
  m->ntrg = p->ntrg;
  m->nranks = g_size;
  double t[] = {m->t_tree,   m->t_lists, m->t_operators, m->t_upward,
                m->t_m2l,    m->t_downward, m->t_near,   m->t_evaluate};
  int64_t b[] = {m->nboxes, m->nleaves, m->depth};
  MPI_Allreduce(MPI_IN_PLACE, t, 8, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, b, 3, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  m->t_tree = t[0], m->t_lists = t[1], m->t_operators = t[2], m->t_upward = t[3];
  m->t_m2l = t[4], m->t_downward = t[5], m->t_near = t[6], m->t_evaluate = t[7];
  m->nboxes = b[0], m->nleaves = b[1], m->depth = (int32_t)b[2];
}

/* kifmm_plan_create on one rank keeps single-rank results bitwise what they always were. */
static int create_plan(kifmm_plan **plan, const particles *p, const kifmm_options *o) {
  if (g_size == 1)
    return kifmm_plan_create(plan, p->nsrc, p->src, p->ntrg, p->trg, o);
  return kifmm_plan_create_mpi(plan, MPI_COMM_WORLD, p->nsrc_loc, p->src, p->ntrg_loc, p->trg, o);
}

static int evaluate(const run_args *a, particles *p, kifmm_result_meta *m, kifmm_stats *st) {
  kifmm_plan *plan = NULL;
  live_state live = {MPI_Wtime() - g_t0, 0};
  kifmm_options o = a->opts;
  /* the other ranks would only compute lines nobody prints */
  o.progress = g_rank == 0 ? live_progress : NULL;
  o.progress_data = g_rank == 0 ? &live : NULL;
  if (!g_quiet && g_rank == 0)
    fprintf(stderr, "[%8.2f s] planning: tree, lists, operators...\n", MPI_Wtime() - g_t0);
  int s = create_plan(&plan, p, &o);
  if (s != KIFMM_SUCCESS)
    return lib_failure("planning failed", s);
  kifmm_plan_stats(plan, st);
  if (!g_quiet && g_rank == 0)
    fprintf(stderr,
            "[%8.2f s] plan: order %d, ncrit %d, %lld boxes, %lld leaves, depth %d, "
            "M2L rank %d, cache: %s\n[%8.2f s] evaluating...\n",
            MPI_Wtime() - g_t0, st->order, st->ncrit, (long long)st->nboxes,
            (long long)st->nleaves, st->depth, st->m2l_rank, cache_name(st->cache_result),
            MPI_Wtime() - g_t0);
  s = kifmm_evaluate(plan, p->q, p->pot, p->grad);
  if (s == KIFMM_SUCCESS) {
    kifmm_plan_stats(plan, st);
    kifmm_io_result_meta(plan, m);
    globalize_meta(p, m);
  }
  kifmm_plan_destroy(&plan);
  if (s != KIFMM_SUCCESS)
    return lib_failure("evaluation failed", s);
  return EXIT_OK;
}

/* --dry-run: what the run would take, from kifmm_plan_estimate; nothing is evaluated. */
static int dry_run(const run_args *a, const particles *p) {
  kifmm_estimate e;
  int s = kifmm_plan_estimate(p->nsrc, p->src, p->ntrg, p->trg, &a->opts, &e);
  if (s != KIFMM_SUCCESS)
    return lib_failure("dry run failed", s);
  if (g_rank != 0)
    return EXIT_OK;
  printf("kifmm run --dry-run: %s\n", a->in);
  printf("  %-22s %lld\n", "N (sources)", (long long)p->nsrc);
  printf("  %-22s %lld\n", "M (targets)", (long long)p->ntrg);
  printf("  %-22s %d%s\n", "order", e.order, a->opts.tolerance > 0 ? " (from --eps)" : "");
  printf("  %-22s %d%s\n", "ncrit", e.ncrit, a->opts.ncrit == 0 ? " (chosen)" : "");
  printf("  %-22s %lld (%lld leaves), depth %d\n", "boxes", (long long)e.nboxes,
         (long long)e.nleaves, e.depth);
  printf("  %-22s %9.1f MB\n", "plan memory", e.bytes_plan / 1048576.0);
  printf("  %-22s %9.1f MB (creation + one evaluation)\n", "peak memory", e.bytes_peak / 1048576.0);
  printf("  %-22s %9.3f s (tree %.3f, lists %.3f; operators took %.3f)\n", "predicted plan",
         e.t_tree + e.t_lists, e.t_tree, e.t_lists, e.t_operators);
  printf("  %-22s %9.3f s (P2P %.3f, M2L %.3f, kernels %.3f, M2M/L2L %.3f)\n",
         "predicted evaluation", e.t_evaluate, e.t_p2p, e.t_m2l, e.t_kernels, e.t_m2m);
  fflush(stdout);
  return EXIT_OK;
}

static int cmd_run(int argc, char **argv) {
  run_args a;
  int rc = parse_run(argc, argv, &a);
  if (rc != EXIT_OK)
    return rc;
  if (g_size > 1 && a.dry_run) /* the estimate needs every point on one rank */
    return failure(EXIT_USAGE,
                   "run: --dry-run works on one rank only (%d MPI ranks given); use kifmm run "
                   "... --dry-run without mpirun",
                   g_size);
  /* fail now, not after the computation, when the result cannot be written */
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", a.out ? a.out : "./.");
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir] = '\0';
  if (!all_ok(access(slash ? dir : ".", W_OK) == 0))
    return failure(EXIT_FAILED, "%s: the output directory does not exist or is not writable",
                   a.out);
  particles p;
  memset(&p, 0, sizeof(p));
  kifmm_result_meta m;
  kifmm_stats st;
  memset(&m, 0, sizeof(m));
  rc = read_input(&a, &p);
  if (rc == EXIT_OK && a.dry_run) {
    rc = dry_run(&a, &p);
    particles_free(&p);
    return rc;
  }
  if (rc == EXIT_OK)
    rc = evaluate(&a, &p, &m, &st);
  if (rc == EXIT_OK && a.check > 0)
    rc = sampled_errors(&a, &p, &m);
  if (rc == EXIT_OK) {
    double t = MPI_Wtime();
    int s = kifmm_io_write_results(MPI_COMM_WORLD, a.out, p.ntrg, p.trg_off, p.ntrg_loc, p.pot,
                                   p.grad, &m);
    if (s != KIFMM_SUCCESS)
      rc = io_failure(s);
    else
      progress("write", MPI_Wtime() - t, "%s", a.out);
  }
  if (rc == EXIT_OK)
    summary(&a, &st, &m, largest_memory(&st), MPI_Wtime() - g_t0);
  particles_free(&p);
  return rc;
}

/* ---- info ---- */
static herr_t print_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data) {
  (void)ainfo, (void)data;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
  H5T_class_t c = H5Tget_class(t);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  printf("  @%-20s ", name);
  if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 1 && n <= 16) {
    long long iv[16];
    double fv[16];
    if (c == H5T_INTEGER)
      H5Aread(a, H5T_NATIVE_LLONG, iv);
    else
      H5Aread(a, H5T_NATIVE_DOUBLE, fv);
    printf("%s", n > 1 ? "[" : "");
    for (hssize_t i = 0; i < n; i++) {
      if (c == H5T_INTEGER)
        printf("%s%lld", i ? ", " : "", iv[i]);
      else
        printf("%s%.6g", i ? ", " : "", fv[i]);
    }
    printf("%s\n", n > 1 ? "]" : "");
  } else if (c == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) < 256) {
    char buf[256] = {0};
    H5Aread(a, t, buf);
    printf("%s\n", buf);
  } else {
    printf("(not shown)\n");
  }
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return 0;
}

/* The cell line of info: from the attributes periodic, cell_origin, cell_length. */
static void print_cell(int has, const int32_t periodic[3], const double o[3], double len) {
  char pb[4];
  if (!has)
    printf("  periodic none (free space; no cell attributes)\n");
  else
    printf("  periodic %s, cell [%g, %g, %g] + %g (side %g)\n", periodic_str(periodic, pb),
           o[0], o[1], o[2], len, len);
}

static herr_t print_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info, (void)data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
    printf("  /%-20s (not a dataset)\n", name);
    return 0;
  }
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT), s = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t dims[H5S_MAX_RANK];
  int nd = H5Sget_simple_extent_dims(s, dims, NULL);
  printf("  /%-20s %s%zu (", name, H5Tget_class(t) == H5T_FLOAT ? "float" : H5Tget_class(t) == H5T_INTEGER ? "int" : "type", 8 * H5Tget_size(t));
  for (int i = 0; i < nd; i++)
    printf("%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  printf(nd == 1 ? ",)\n" : ")\n");
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return 0;
}

static void describe_contents(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return;
  printf("datasets:\n");
  H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, print_link, NULL);
  printf("attributes:\n");
  H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, NULL);
  H5Fclose(f);
}

static int info_particles(const char *path, const kifmm_particles_desc *d) {
  int64_t n = d->nsrc, m = d->ntrg, dim = d->density_dim;
  double *src = malloc(sizeof(double) * (size_t)(3 * n + 1)),
         *q = malloc(sizeof(double) * (size_t)(dim * n + 1)),
         *trg = malloc(sizeof(double) * (size_t)(3 * m + 1));
  if (!src || !q || !trg) {
    free(src), free(q), free(trg);
    return failure(EXIT_FAILED, "info: out of memory");
  }
  int s = kifmm_io_read_particles_density(MPI_COMM_WORLD, path, (int32_t)dim, 0, n, src, q, 0,
                                          m, trg);
  if (s == KIFMM_SUCCESS) {
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    double sq[3] = {0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
      for (int64_t c = 0; c < dim; c++)
        sq[c] += q[dim * i + c];
      for (int c = 0; c < 3; c++) {
        lo[c] = fmin(lo[c], src[3 * i + c]);
        hi[c] = fmax(hi[c], src[3 * i + c]);
      }
    }
    printf("%s: kifmm particle file (valid)\n", path);
    printf("  sources N = %lld, targets M = %lld%s\n", (long long)n, (long long)m,
           d->has_targets ? "" : " (no /targets: targets = sources)");
    if (dim == 3)
      printf("  source bounding box [%g, %g] x [%g, %g] x [%g, %g], total force (%.6g, %.6g, "
             "%.6g)\n", lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], sq[0], sq[1], sq[2]);
    else
      printf("  source bounding box [%g, %g] x [%g, %g] x [%g, %g], total charge %.6g\n",
             lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], sq[0]);
    printf("  kernel %s (density /%s; kernel_param is given at run time: --kappa, "
           "--viscosity)\n",
           dim == 3 ? "stokes" : d->kernel == KIFMM_KERNEL_YUKAWA ? "yukawa" : "laplace or yukawa",
           dim == 3 ? "forces (N, 3)" : "charges (N)");
    print_cell(d->has_cell, d->periodic, d->cell_origin, d->cell_length);
  }
  free(src), free(q), free(trg);
  return s == KIFMM_SUCCESS ? EXIT_OK : io_failure(s);
}

/* Attributes of a result file that info reports: kernel, kernel_param and the cell (a file
 * from before 0.4 has none: Laplace in free space). */
static void info_result_attrs(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return;
  char kernel[32] = "laplace";
  double param = 0, origin[3] = {0, 0, 0}, len = 1;
  int32_t periodic[3] = {0, 0, 0};
  int has_kernel = H5Aexists(f, "kernel") > 0, has_cell = H5Aexists(f, "periodic") > 0 &&
                                                          H5Aexists(f, "cell_origin") > 0 &&
                                                          H5Aexists(f, "cell_length") > 0;
  if (has_kernel) {
    hid_t a = H5Aopen(f, "kernel", H5P_DEFAULT), t = H5Aget_type(a);
    if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) < sizeof(kernel)) {
      memset(kernel, 0, sizeof(kernel));
      H5Aread(a, t, kernel);
    }
    H5Tclose(t);
    H5Aclose(a);
  }
  if (H5Aexists(f, "kernel_param") > 0) {
    hid_t a = H5Aopen(f, "kernel_param", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, &param);
    H5Aclose(a);
  }
  if (has_cell) {
    const char *names[3] = {"periodic", "cell_origin", "cell_length"};
    void *bufs[3] = {periodic, origin, &len};
    hid_t types[3] = {H5T_NATIVE_INT32, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE};
    hssize_t want[3] = {3, 3, 1};
    for (int i = 0; i < 3; i++) {
      hid_t a = H5Aopen(f, names[i], H5P_DEFAULT), sp = H5Aget_space(a);
      if (H5Sget_simple_extent_npoints(sp) == want[i])
        H5Aread(a, types[i], bufs[i]);
      else
        has_cell = 0;
      H5Sclose(sp);
      H5Aclose(a);
    }
  }
  H5Fclose(f);
  if (!strcmp(kernel, "yukawa"))
    printf("  kernel yukawa, kernel_param %g (kappa)\n", param);
  else if (!strcmp(kernel, "stokes"))
    printf("  kernel stokes, kernel_param %g (viscosity)\n", param);
  else
    printf("  kernel %s, kernel_param %g%s\n", kernel, param,
           has_kernel ? "" : " (no kernel attribute: a file from before 0.4)");
  print_cell(has_cell, periodic, origin, len);
}

static int info_results(const char *path) {
  int64_t m = 0;
  int32_t v = 1;
  int s = kifmm_io_read_results_dim(MPI_COMM_WORLD, path, 0, 0, &m, &v, NULL, NULL);
  if (s != KIFMM_SUCCESS)
    return s;
  double *pot = malloc(sizeof(double) * (size_t)(v * m + 1));
  if (!pot)
    return failure(EXIT_FAILED, "info: out of memory"), KIFMM_ERR_OUT_OF_MEMORY;
  s = kifmm_io_read_results_dim(MPI_COMM_WORLD, path, 0, m, NULL, NULL, pot, NULL);
  if (s == KIFMM_SUCCESS) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < v * m; i++)
      lo = fmin(lo, pot[i]), hi = fmax(hi, pot[i]);
    printf("%s: kifmm result file\n", path);
    printf("  targets M = %lld, %s in [%.6g, %.6g]\n", (long long)m,
           v == 3 ? "velocity components" : "potential", lo, hi);
    if (g_rank == 0)
      info_result_attrs(path);
  }
  free(pot);
  return s;
}

static int cmd_info(int argc, char **argv) {
  if (argc != 1)
    return failure(EXIT_USAGE, "info: exactly one file expected (kifmm info file.h5)");
  const char *path = argv[0];
  int rc;
  kifmm_particles_desc d;
  int s = kifmm_io_particles_describe(MPI_COMM_WORLD, path, &d);
  if (s == KIFMM_ERR_FILE_NOT_FOUND || s == KIFMM_ERR_FILE_NOT_HDF5 ||
      s == KIFMM_ERR_INVALID_CELL)
    return io_failure(s);
  if (s == KIFMM_SUCCESS) {
    rc = info_particles(path, &d);
  } else {
    char why[800];
    snprintf(why, sizeof(why), "%s", kifmm_io_error_message());
    int r = info_results(path);
    if (r == KIFMM_ERR_FILE_MISSING_DATASET) /* neither kind: say why it is not particles */
      return failure(EXIT_FAILED, "%s (and no /potential: not a result file either)", why);
    rc = r == KIFMM_SUCCESS ? EXIT_OK : io_failure(r);
  }
  if (rc == EXIT_OK && g_rank == 0)
    describe_contents(path);
  return rc;
}

int main(int argc, char **argv) {
  int rc;
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
    fputs(USAGE, stdout);
    return EXIT_OK;
  }
  if (argc >= 2 && !strcmp(argv[1], "--version")) {
    printf("kifmm %s\n", kifmm_version());
    return EXIT_OK;
  }
  if (argc < 2) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "kifmm: error: MPI_Init failed\n");
    return EXIT_FAILED;
  }
  g_t0 = MPI_Wtime();
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const char *cmd = argv[1];
  for (int i = 2; i < argc; i++) /* help after a command too */
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      if (g_rank == 0)
        fputs(USAGE, stdout);
      MPI_Finalize();
      return EXIT_OK;
    }
  if (!strcmp(cmd, "generate"))
    rc = cmd_generate(argc - 2, argv + 2);
  else if (!strcmp(cmd, "run"))
    rc = cmd_run(argc - 2, argv + 2);
  else if (!strcmp(cmd, "info"))
    rc = cmd_info(argc - 2, argv + 2);
  else
    rc = failure(EXIT_USAGE, "unknown command '%s' (kifmm --help lists them)", cmd);
  MPI_Finalize();
  return rc;
}
