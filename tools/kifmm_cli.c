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
    "  generate --dist cube|sphere --n N [--targets M] [--seed S] -o particles.h5\n"
    "      N uniform random sources with charges in [-0.5, 0.5) in the unit cube, or on the\n"
    "      sphere of radius 0.5 centred in it; --targets M adds M separate targets (default:\n"
    "      targets = sources). N and M accept 1e6 notation.\n"
    "  run particles.h5 -o results.h5 [--order p] [--ncrit c] [--threads t] [--check K]\n"
    "      [--tol x] [--eps e] [--dry-run] [--no-cache] [--cache-dir DIR] [--quiet]\n"
    "      potentials and gradients at the targets by the FMM; progress on stderr, a summary\n"
    "      on stdout; --check K compares K sampled targets with the direct sum. --eps e asks\n"
    "      for a relative error instead of an order; --dry-run predicts memory and time and\n"
    "      evaluates nothing (-o not needed). Defaults: order 6, ncrit chosen from order and\n"
    "      distribution, threads from OMP_NUM_THREADS, no check. Under mpirun -n R each rank\n"
    "      reads, evaluates and writes its own share (give --ncrit to match one rank's\n"
    "      results); --dry-run needs one rank.\n"
    "  info file.h5\n"
    "      describe a particle or result file.\n"
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

static void make_points(int sphere, uint64_t seed, uint64_t stream, int64_t off, int64_t cnt,
                        double *xyz) {
  for (int64_t j = 0; j < cnt; j++) {
    uint64_t i = (uint64_t)(off + j);
    double *p = xyz + 3 * j;
    if (sphere) {
      double z = 2 * uniform(seed, stream, 2 * i) - 1;
      double phi = 2 * 3.14159265358979323846 * uniform(seed, stream, 2 * i + 1);
      double r = sqrt(1 - z * z);
      p[0] = 0.5 + 0.5 * r * cos(phi);
      p[1] = 0.5 + 0.5 * r * sin(phi);
      p[2] = 0.5 + 0.5 * z;
    } else {
      for (int d = 0; d < 3; d++)
        p[d] = uniform(seed, stream, 3 * i + d);
    }
  }
}

static int cmd_generate(int argc, char **argv) {
  const char *dist = "cube", *out = NULL;
  int64_t n = -1, m = -1, seed = 42;
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
    else if (!strcmp(k, "-o") || !strcmp(k, "--output"))
      out = v;
    else
      return failure(EXIT_USAGE, "generate: unknown option '%s' (see kifmm --help)", k);
    if (!ok)
      return failure(EXIT_USAGE, "generate: %s needs a valid value", k);
    i++;
  }
  if (!dist || (strcmp(dist, "cube") && strcmp(dist, "sphere")))
    return failure(EXIT_USAGE, "generate: --dist must be cube or sphere");
  if (n < 1)
    return failure(EXIT_USAGE, "generate: --n N (N >= 1) is required");
  if (!out)
    return failure(EXIT_USAGE, "generate: -o particles.h5 is required");
  int sphere = !strcmp(dist, "sphere");
  double t = MPI_Wtime();
  int64_t so, sn, to = 0, tn = 0;
  kifmm_io_slab(n, g_size, g_rank, &so, &sn);
  if (m >= 0)
    kifmm_io_slab(m, g_size, g_rank, &to, &tn);
  double *src = malloc(sizeof(double) * (size_t)(3 * sn + 1)),
         *q = malloc(sizeof(double) * (size_t)(sn + 1)),
         *trg = malloc(sizeof(double) * (size_t)(3 * tn + 1));
  int local_ok = src && q && trg, ok = 0;
  MPI_Allreduce(&local_ok, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!ok) {
    free(src), free(q), free(trg);
    return failure(EXIT_FAILED, "generate: out of memory for %lld points", (long long)n);
  }
  make_points(sphere, (uint64_t)seed, 0, so, sn, src);
  make_points(sphere, (uint64_t)seed, 1, to, tn, trg);
  for (int64_t j = 0; j < sn; j++)
    q[j] = uniform((uint64_t)seed, 2, (uint64_t)(so + j)) - 0.5;
  int s = kifmm_io_write_particles(MPI_COMM_WORLD, out, n, so, sn, src, q, m, to, tn, trg);
  free(src), free(q), free(trg);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  progress("generate", MPI_Wtime() - t, "%s: %lld %s sources, %s", out, (long long)n, dist,
           m >= 0 ? "separate targets" : "targets = sources");
  return EXIT_OK;
}

/* ---- run ---- */
typedef struct run_args {
  const char *in, *out;
  kifmm_options opts;
  int64_t check;
  int dry_run;
} run_args;

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
    } else
      return failure(EXIT_USAGE, "run: unknown option '%s' (see kifmm --help)", k);
    if (!ok)
      return failure(EXIT_USAGE, "run: %s needs a valid value", k);
    i++;
  }
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
  if (a->check > INT_MAX / 7) /* the sampled rows travel in one MPI message of 7K doubles */
    return failure(EXIT_USAGE, "run: --check K must be at most %d", INT_MAX / 7);
  if (a->out && !strcmp(a->in, a->out))
    return failure(EXIT_USAGE, "run: the output must not overwrite the input");
  return EXIT_OK;
}

/* This rank's slabs: sources [src_off, src_off + nsrc_loc) and targets [trg_off, trg_off +
 * ntrg_loc) of the file's global nsrc and ntrg; one rank holds everything. */
typedef struct particles {
  int64_t nsrc, ntrg;
  int has_targets;
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

static int read_input(const run_args *a, particles *p) {
  double t = MPI_Wtime();
  int s = kifmm_io_particles_info(MPI_COMM_WORLD, a->in, &p->nsrc, &p->ntrg, &p->has_targets);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  kifmm_io_slab(p->nsrc, g_size, g_rank, &p->src_off, &p->nsrc_loc);
  /* without /targets the targets are the sources: the same slab, so each rank's targets are
   * its own sources (kifmm_io_read_particles then reads them from /sources) */
  if (p->has_targets)
    kifmm_io_slab(p->ntrg, g_size, g_rank, &p->trg_off, &p->ntrg_loc);
  else
    p->trg_off = p->src_off, p->ntrg_loc = p->nsrc_loc;
  int64_t n = p->nsrc_loc, m = p->ntrg_loc;
  p->src = malloc(sizeof(double) * (size_t)(3 * n + 1));
  p->q = malloc(sizeof(double) * (size_t)(n + 1));
  p->trg = malloc(sizeof(double) * (size_t)(3 * m + 1));
  p->pot = malloc(sizeof(double) * (size_t)(m + 1));
  p->grad = malloc(sizeof(double) * (size_t)(3 * m + 1));
  if (!all_ok(p->src && p->q && p->trg && p->pot && p->grad))
    return failure(EXIT_FAILED, "out of memory for %lld sources and %lld targets",
                   (long long)p->nsrc, (long long)p->ntrg);
  s = kifmm_io_read_particles(MPI_COMM_WORLD, a->in, p->src_off, n, p->src, p->q, p->trg_off, m,
                              p->trg);
  if (s != KIFMM_SUCCESS)
    return io_failure(s);
  progress("read", MPI_Wtime() - t, "%s: N=%lld M=%lld%s", a->in, (long long)p->nsrc,
           (long long)p->ntrg, p->has_targets ? "" : " (targets = sources)");
  return EXIT_OK;
}

/* The K sampled targets (global indices i * (ntrg / K)) with their FMM results, known to
 * every rank: each rank fills the rows it owns, zeros elsewhere, and a sum completes them.
 * Row i of y: x, y, z, pot, gx, gy, gz. */
static void gather_samples(const particles *p, int64_t k, double *y) {
  int64_t stride = p->ntrg / k;
  memset(y, 0, sizeof(double) * (size_t)(7 * k));
  for (int64_t i = 0; i < k; i++) {
    int64_t j = i * stride - p->trg_off;
    if (j < 0 || j >= p->ntrg_loc)
      continue;
    memcpy(y + 7 * i, p->trg + 3 * j, 3 * sizeof(double));
    y[7 * i + 3] = p->pot[j];
    memcpy(y + 7 * i + 4, p->grad + 3 * j, 3 * sizeof(double));
  }
  MPI_Allreduce(MPI_IN_PLACE, y, (int)(7 * k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

/* Direct sum at the sampled targets over all sources, no rank holding them all: each rank sums
 * over its own slab and the partial sums are added. [out] d: k potentials, then 3k gradients. */
static int distributed_direct(const run_args *a, const particles *p, int64_t k, const double *y,
                              double *d) {
  double *xyz = malloc(sizeof(double) * (size_t)(3 * k));
  int s = xyz ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  memset(d, 0, sizeof(double) * (size_t)(4 * k));
  if (xyz) {
    for (int64_t i = 0; i < k; i++)
      memcpy(xyz + 3 * i, y + 7 * i, 3 * sizeof(double));
    if (p->nsrc_loc > 0) /* a rank without sources contributes zeros */
      s = kifmm_direct(p->nsrc_loc, p->src, p->q, k, xyz, d, d + k, a->opts.num_threads);
  }
  free(xyz);
  int worst = 0;
  MPI_Allreduce(&s, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (worst != KIFMM_SUCCESS)
    return worst;
  MPI_Allreduce(MPI_IN_PLACE, d, (int)(4 * k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return KIFMM_SUCCESS;
}

/* Relative l2 errors on K evenly spaced targets against the direct sum. */
static int sampled_errors(const run_args *a, const particles *p, kifmm_result_meta *m) {
  int64_t k = a->check < p->ntrg ? a->check : p->ntrg;
  if (k <= 0)
    return EXIT_OK;
  double t = MPI_Wtime();
  double *y = malloc(sizeof(double) * (size_t)(11 * k));
  if (!all_ok(y != NULL)) {
    free(y);
    return failure(EXIT_FAILED, "out of memory for --check %lld", (long long)k);
  }
  double *dp = y + 7 * k, *dg = dp + k;
  gather_samples(p, k, y);
  int s = distributed_direct(a, p, k, y, dp);
  if (s != KIFMM_SUCCESS) {
    free(y);
    return failure(EXIT_FAILED, "direct sum for --check: %s", kifmm_error_string(s));
  }
  double ep = 0, np = 0, eg = 0, ng = 0;
  for (int64_t i = 0; i < k; i++) {
    const double *r = y + 7 * i;
    ep += (r[3] - dp[i]) * (r[3] - dp[i]);
    np += dp[i] * dp[i];
    for (int d = 0; d < 3; d++) {
      double e = r[4 + d] - dg[3 * i + d];
      eg += e * e;
      ng += dg[3 * i + d] * dg[3 * i + d];
    }
  }
  free(y);
  m->check_count = k;
  m->err_potential = np > 0 ? sqrt(ep / np) : sqrt(ep);
  m->err_gradient = ng > 0 ? sqrt(eg / ng) : sqrt(eg);
  progress("check", MPI_Wtime() - t, "%lld targets vs direct sum: pot %.2e grad %.2e",
           (long long)k, m->err_potential, m->err_gradient);
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
  if (m->nranks > 1) /* one-rank summaries keep their old rows */
    printf("  %-22s %d (boxes: largest local tree, times: slowest rank)\n", "MPI ranks",
           m->nranks);
  printf("  %-22s %lld (%lld leaves)\n", "boxes", (long long)m->nboxes, (long long)m->nleaves);
  printf("  %-22s %d\n", "depth", m->depth);
  printf("  %-22s %s\n", "operator cache", cache_name(m->cache_result));
  printf("  %-22s %s\n", "SIMD path", st->simd);
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
    printf("  %-22s %.3e (relative l2, %lld targets)\n", "error potential", m->err_potential,
           (long long)m->check_count);
    printf("  %-22s %.3e\n", "error gradient", m->err_gradient);
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
    return failure(EXIT_FAILED, "planning failed: %s", kifmm_error_string(s));
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
    return failure(EXIT_FAILED, "evaluation failed: %s", kifmm_error_string(s));
  return EXIT_OK;
}

/* --dry-run: what the run would take, from kifmm_plan_estimate; nothing is evaluated. */
static int dry_run(const run_args *a, const particles *p) {
  kifmm_estimate e;
  int s = kifmm_plan_estimate(p->nsrc, p->src, p->ntrg, p->trg, &a->opts, &e);
  if (s != KIFMM_SUCCESS)
    return failure(EXIT_FAILED, "dry run failed: %s", kifmm_error_string(s));
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
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a);
  H5T_class_t c = H5Tget_class(t);
  printf("  @%-20s ", name);
  if (c == H5T_INTEGER) {
    long long v = 0;
    H5Aread(a, H5T_NATIVE_LLONG, &v);
    printf("%lld\n", v);
  } else if (c == H5T_FLOAT) {
    double v = 0;
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    printf("%.6g\n", v);
  } else if (c == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) < 256) {
    char buf[256] = {0};
    H5Aread(a, t, buf);
    printf("%s\n", buf);
  } else {
    printf("(not shown)\n");
  }
  H5Tclose(t);
  H5Aclose(a);
  return 0;
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

static int info_particles(const char *path, int64_t n, int64_t m, int has) {
  double *src = malloc(sizeof(double) * (size_t)(3 * n + 1)), *q = malloc(sizeof(double) * (size_t)(n + 1)),
         *trg = malloc(sizeof(double) * (size_t)(3 * m + 1));
  if (!src || !q || !trg) {
    free(src), free(q), free(trg);
    return failure(EXIT_FAILED, "info: out of memory");
  }
  int s = kifmm_io_read_particles(MPI_COMM_WORLD, path, 0, n, src, q, 0, m, trg);
  if (s == KIFMM_SUCCESS) {
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY}, sq = 0;
    for (int64_t i = 0; i < n; i++) {
      sq += q[i];
      for (int d = 0; d < 3; d++) {
        lo[d] = fmin(lo[d], src[3 * i + d]);
        hi[d] = fmax(hi[d], src[3 * i + d]);
      }
    }
    printf("%s: kifmm particle file (valid)\n", path);
    printf("  sources N = %lld, targets M = %lld%s\n", (long long)n, (long long)m,
           has ? "" : " (no /targets: targets = sources)");
    printf("  source bounding box [%g, %g] x [%g, %g] x [%g, %g], total charge %.6g\n", lo[0],
           hi[0], lo[1], hi[1], lo[2], hi[2], sq);
  }
  free(src), free(q), free(trg);
  return s == KIFMM_SUCCESS ? EXIT_OK : io_failure(s);
}

static int info_results(const char *path) {
  int64_t m = 0;
  int s = kifmm_io_read_results(MPI_COMM_WORLD, path, 0, 0, &m, NULL, NULL);
  if (s != KIFMM_SUCCESS)
    return s;
  double *pot = malloc(sizeof(double) * (size_t)(m + 1));
  if (!pot)
    return failure(EXIT_FAILED, "info: out of memory"), KIFMM_ERR_OUT_OF_MEMORY;
  s = kifmm_io_read_results(MPI_COMM_WORLD, path, 0, m, NULL, pot, NULL);
  if (s == KIFMM_SUCCESS) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < m; i++)
      lo = fmin(lo, pot[i]), hi = fmax(hi, pot[i]);
    printf("%s: kifmm result file\n", path);
    printf("  targets M = %lld, potential in [%.6g, %.6g]\n", (long long)m, lo, hi);
  }
  free(pot);
  return s;
}

static int cmd_info(int argc, char **argv) {
  if (argc != 1)
    return failure(EXIT_USAGE, "info: exactly one file expected (kifmm info file.h5)");
  const char *path = argv[0];
  int64_t n = 0, m = 0;
  int has = 0, rc;
  int s = kifmm_io_particles_info(MPI_COMM_WORLD, path, &n, &m, &has);
  if (s == KIFMM_ERR_FILE_NOT_FOUND || s == KIFMM_ERR_FILE_NOT_HDF5)
    return io_failure(s);
  if (s == KIFMM_SUCCESS) {
    rc = info_particles(path, n, m, has);
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
