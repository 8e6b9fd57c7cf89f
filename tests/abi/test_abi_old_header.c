/* SPDX-License-Identifier: BSD-3-Clause */
/* A program written against a released kifmm.h, frozen in this directory, and run against
 * today's shared library: built once per released layout (KIFMM_TEST_HEADER_*). Its options
 * and stats sit at the very end of a page followed by an inaccessible page, so a library
 * that read or wrote more than the caller's layout would crash instead of passing.
 * Usage: test_abi_<layout> WORKDIR (an existing directory for the operator cache). */
#define _DEFAULT_SOURCE /* mkdtemp, MAP_ANONYMOUS */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(KIFMM_TEST_HEADER_v0_1)
#include "kifmm_v0_1.h" /* no struct_size: calls the 0.1 symbols */
#elif defined(KIFMM_TEST_HEADER_sized_v1)
#include "kifmm_sized_v1.h" /* the first layout with struct_size */
#define SIZED 1
#elif defined(KIFMM_TEST_HEADER_v0_2)
#include "kifmm_v0_2.h" /* the 0.2.0 release: tolerance and progress appended */
#define SIZED 1
#else
#error "define KIFMM_TEST_HEADER_<layout>"
#endif

/* The value of KIFMM_CACHE_STORED in kifmm_io.h, which cannot be included next to a frozen
 * kifmm.h; 0.1 already documented it in kifmm_stats.cache_result. */
enum { CACHE_NOT_USED = 0, CACHE_STORED = 2 };
enum { NSRC = 4000, NTRG = 1500 };

static int failures, checks;
#define EXPECT(cond, ...)                                                          \
  do {                                                                             \
    checks++;                                                                      \
    if (!(cond)) {                                                                 \
      failures++;                                                                  \
      fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                \
      fprintf(stderr, "\n");                                                       \
    }                                                                              \
  } while (0)
#define EXPECT_STATUS(call, expected)                                                  \
  do {                                                                                 \
    int got_ = (call);                                                                 \
    EXPECT(got_ == (expected), "%s returned %d (%s), expected %d", #call, got_,       \
           kifmm_error_string(got_), (int)(expected));                                 \
  } while (0)

/* n writable bytes that end where an inaccessible page begins. */
static void *at_page_end(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m + page, page, PROT_NONE) != 0 || n > page) {
    fprintf(stderr, "cannot map a guarded page\n");
    exit(2);
  }
  return m + page - n;
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  char path[2048];
  if (!d)
    return;
  for (struct dirent *e; (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    remove(path);
  }
  closedir(d);
  rmdir(dir);
}

static double uniform(unsigned long long *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) * 0x1.0p-53;
}

/* Defaults as documented in the header the program was compiled against, except max_level
 * (the library's deepest level, 42 since 0.2) and ncrit (0 = chosen by the plan since 0.2). */
static void test_defaults(void) {
  kifmm_options d = kifmm_default_options();
  EXPECT(d.order == 6 && d.ncrit == 0 && d.max_level == 42, "order %d ncrit %d max_level %d",
         d.order, d.ncrit, d.max_level);
  EXPECT(d.num_threads == 0 && d.verbose == 0 && d.use_cache == 1,
         "num_threads %d verbose %d use_cache %d", d.num_threads, d.verbose, d.use_cache);
  EXPECT(d.compression_tol == 0.0 && d.cache_dir[0] == '\0', "tol %g cache_dir '%s'",
         d.compression_tol, d.cache_dir);
#ifdef SIZED
  EXPECT(d.struct_size == (int32_t)sizeof(kifmm_options), "struct_size %d, sizeof %zu",
         (int)d.struct_size, sizeof(kifmm_options));
#endif
}

/* Options changed from the defaults, in guarded memory. */
static kifmm_options *options(int order, int ncrit, int max_level, int use_cache) {
  kifmm_options *o = at_page_end(sizeof(*o));
  *o = kifmm_default_options();
  o->order = order;
  o->ncrit = ncrit;
  o->max_level = max_level;
  o->use_cache = use_cache;
  o->num_threads = 1;
  return o;
}

static kifmm_stats *stats_of(const kifmm_plan *plan) {
  kifmm_stats *s = at_page_end(sizeof(*s));
  memset(s, 0x5a, sizeof(*s));
  EXPECT_STATUS(kifmm_plan_stats(plan, s), KIFMM_SUCCESS);
#ifdef SIZED
  EXPECT(s->struct_size == (int32_t)sizeof(kifmm_stats), "stats struct_size %d, sizeof %zu",
         (int)s->struct_size, sizeof(kifmm_stats));
#endif
  return s;
}

/* Every option of the layout reaches the library: order, ncrit, cache use and directory
 * through one plan, max_level, tolerance and use_cache = 0 through a second. Results match
 * the direct sum and every stats field up to the last one is where the caller expects. */
static void test_options_honoured(const char *workdir, const double *src, const double *trg,
                                  const double *q) {
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s/cache-XXXXXX", workdir);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "mkdtemp %s failed\n", dir);
    exit(2);
  }
  kifmm_options *a = options(4, 40, 16, 1);
#ifdef SIZED
  EXPECT_STATUS(kifmm_options_set_cache_dir(a, dir), KIFMM_SUCCESS);
#else
  strcpy(a->cache_dir, dir);
#endif
  kifmm_plan *pa = NULL;
  EXPECT_STATUS(kifmm_plan_create(&pa, NSRC, src, NTRG, trg, a), KIFMM_SUCCESS);
  if (!pa)
    return;
  kifmm_stats *sa = stats_of(pa);
  EXPECT(sa->nsrc == NSRC && sa->ntrg == NTRG, "counts %lld %lld", (long long)sa->nsrc,
         (long long)sa->ntrg);
  EXPECT(sa->order == 4 && sa->nsurf == 6 * 3 * 3 + 2, "order %d nsurf %d", sa->order,
         sa->nsurf);
  EXPECT(sa->cache_result == CACHE_STORED, "cache_result %d", sa->cache_result);
  EXPECT(count_files(dir) == 1, "operators stored in cache_dir %s: %d files", dir,
         count_files(dir));

  static double pot[NTRG], ref[NTRG];
  EXPECT_STATUS(kifmm_evaluate(pa, q, pot, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_direct(NSRC, src, q, NTRG, trg, ref, NULL, 1), KIFMM_SUCCESS);
  double num = 0, den = 0;
  for (int i = 0; i < NTRG; i++) {
    num += (pot[i] - ref[i]) * (pot[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  EXPECT(den > 0 && sqrt(num / den) < 1e-3, "p = 4 relative l2 error %.2e", sqrt(num / den));
  sa = stats_of(pa);
  EXPECT(sa->nevaluations == 1 && sa->t_evaluate > 0, "nevaluations %lld t_evaluate %g",
         (long long)sa->nevaluations, sa->t_evaluate);

  kifmm_options *b = options(4, 400, 2, 0);
  b->compression_tol = 1e-3;
  kifmm_plan *pb = NULL;
  EXPECT_STATUS(kifmm_plan_create(&pb, NSRC, src, NTRG, trg, b), KIFMM_SUCCESS);
  if (pb) {
    kifmm_stats *sb = stats_of(pb);
    EXPECT(sb->depth == 2, "max_level 2: depth %d", sb->depth);
    EXPECT(sb->nleaves < sa->nleaves, "ncrit 400: %lld leaves, ncrit 40: %lld",
           (long long)sb->nleaves, (long long)sa->nleaves);
    EXPECT(sb->compression_tol == 1e-3, "compression_tol %g", sb->compression_tol);
    EXPECT(sb->cache_result == CACHE_NOT_USED, "use_cache 0: cache_result %d",
           sb->cache_result);
  }
  kifmm_plan_destroy(&pa);
  kifmm_plan_destroy(&pb);
  remove_tree(dir);
}

/* Invalid values keep the codes they had when the header was released. The orders accepted
 * grew from [2, 16] to [2, 18] after 0.3: 19 is out of range for every library. */
static void test_invalid_options(const double *src) {
  struct {
    int field, value, expected;
  } cases[] = {{0, 1, KIFMM_ERR_INVALID_ORDER},     {0, 19, KIFMM_ERR_INVALID_ORDER},
               {1, -1, KIFMM_ERR_INVALID_NCRIT},     {2, 0, KIFMM_ERR_INVALID_MAX_LEVEL},
               {2, 43, KIFMM_ERR_INVALID_MAX_LEVEL}, {3, -1, KIFMM_ERR_INVALID_THREADS}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    kifmm_options *o = options(4, 40, 16, 0);
    int32_t *f[] = {&o->order, &o->ncrit, &o->max_level, &o->num_threads};
    *f[cases[i].field] = cases[i].value;
    kifmm_plan *p = NULL;
    EXPECT_STATUS(kifmm_plan_create(&p, 100, src, 100, src, o), cases[i].expected);
    EXPECT(p == NULL, "no plan on failure (case %zu)", i);
  }
  kifmm_options *o = options(4, 40, 16, 0);
  o->compression_tol = 1.5;
  kifmm_plan *p = NULL;
  EXPECT_STATUS(kifmm_plan_create(&p, 100, src, 100, src, o), KIFMM_ERR_INVALID_TOLERANCE);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  static double src[3 * NSRC], trg[3 * NTRG], q[NSRC];
  unsigned long long seed = 7;
  for (int i = 0; i < 3 * NSRC; i++)
    src[i] = uniform(&seed);
  for (int i = 0; i < 3 * NTRG; i++)
    trg[i] = uniform(&seed);
  for (int i = 0; i < NSRC; i++)
    q[i] = uniform(&seed) - 0.5;

  test_defaults();
  test_options_honoured(argv[1], src, trg, q);
  test_invalid_options(src);
  printf("%s: %d checks, %d failed\n", argv[0], checks, failures);
  return failures ? 1 : 0;
}
