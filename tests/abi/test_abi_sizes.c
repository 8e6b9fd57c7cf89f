/* SPDX-License-Identifier: BSD-3-Clause */
/* struct_size through the current header: the sizes the library must refuse (zero, unknown,
 * larger than its own, as from a header newer than the library) with KIFMM_ERR_STRUCT_SIZE
 * and untouched outputs, the sized entry points' NULL checks, and the cache_dir setter. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <dirent.h>
#include <unistd.h>

#include "kifmm_io.h"
#include "testutil.h"

enum { N = 600 };

/* What a header with more fields (a later release) would give its callers. */
typedef struct {
  kifmm_options base;
  double tolerance;
  void (*progress)(double fraction, void *user);
  void *user;
} options_next;

typedef struct {
  kifmm_stats base;
  char blas[64];
} stats_next;

static int all_bytes(const void *p, size_t n, unsigned char v) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != v)
      return 0;
  return 1;
}

static void test_default_options_sized(void) {
  kifmm_options o = kifmm_default_options();
  EXPECT(o.struct_size == (int32_t)sizeof(kifmm_options), "inline default struct_size %d",
         (int)o.struct_size);
  EXPECT(offsetof(kifmm_options, struct_size) == 0 && offsetof(kifmm_stats, struct_size) == 0,
         "struct_size is the first field of both structs");

  kifmm_options s;
  memset(&s, 0x5a, sizeof(s));
  EXPECT_STATUS(kifmm_default_options_sized(&s, sizeof(s)), KIFMM_SUCCESS);
  EXPECT(memcmp(&s, &o, sizeof(s)) == 0, "sized defaults equal the inline ones, byte for byte");
  EXPECT_STATUS(kifmm_default_options_sized(NULL, sizeof(s)), KIFMM_ERR_NULL_ARGUMENT);

  const size_t bad[] = {0, 1, 6, sizeof(kifmm_options) - 4, sizeof(kifmm_options) + 8,
                        sizeof(options_next), (size_t)-1};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    options_next n;
    memset(&n, 0x5a, sizeof(n));
    EXPECT_STATUS(kifmm_default_options_sized(&n.base, bad[i]), KIFMM_ERR_STRUCT_SIZE);
    EXPECT(all_bytes(&n, sizeof(n), 0x5a), "size %zu: options untouched", bad[i]);
  }
}

/* plan_create refuses layouts it does not know, and keeps *plan as it was. */
static void test_create_refuses(const double *x) {
  const int32_t bad[] = {0, -1, -1064, (int32_t)sizeof(kifmm_options) - 4,
                         (int32_t)sizeof(kifmm_options) + 8, 1 << 30};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    kifmm_options o = kifmm_default_options();
    o.order = 4;
    o.use_cache = 0;
    o.struct_size = bad[i];
    kifmm_plan *plan = NULL;
    EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &o), KIFMM_ERR_STRUCT_SIZE);
    EXPECT(plan == NULL, "struct_size %d: no plan", (int)bad[i]);
  }
  /* A zeroed struct, as from code that skips kifmm_default_options(). */
  kifmm_options z;
  memset(&z, 0, sizeof(z));
  z.order = 4;
  z.ncrit = 100;
  z.max_level = 16;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &z), KIFMM_ERR_STRUCT_SIZE);

  /* A caller of a later header: its fields would be ignored here, so it is refused. */
  options_next n;
  memset(&n, 0, sizeof(n));
  n.base = kifmm_default_options();
  n.base.use_cache = 0;
  n.base.struct_size = (int32_t)sizeof(n);
  n.tolerance = 1e-6;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &n.base), KIFMM_ERR_STRUCT_SIZE);
  EXPECT(plan == NULL, "later layout: no plan");
}

static void test_stats_sized(const double *x) {
  kifmm_options o = kifmm_default_options();
  o.order = 3;
  o.use_cache = 0;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &o), KIFMM_SUCCESS);
  if (!plan)
    return;
  /* The inline passes sizeof: exactly that many bytes are written. */
  struct {
    kifmm_stats s;
    unsigned char guard[64];
  } g;
  memset(&g, 0x5a, sizeof(g));
  EXPECT_STATUS(kifmm_plan_stats(plan, &g.s), KIFMM_SUCCESS);
  EXPECT(g.s.struct_size == (int32_t)sizeof(kifmm_stats), "stats struct_size %d",
         (int)g.s.struct_size);
  EXPECT(g.s.order == 3 && g.s.nsrc == N && g.s.nevaluations == 0, "order %d nsrc %lld",
         g.s.order, (long long)g.s.nsrc);
  EXPECT(all_bytes(g.guard, sizeof(g.guard), 0x5a), "nothing written past sizeof(kifmm_stats)");

  /* sizeof - 4: inside the last field (sizeof - 8 is the 0.4 layout, a known size) */
  const size_t bad[] = {0, 4, sizeof(kifmm_stats) - 4, sizeof(kifmm_stats) + 8,
                        sizeof(stats_next), (size_t)-1};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    stats_next n;
    memset(&n, 0x5a, sizeof(n));
    EXPECT_STATUS(kifmm_plan_stats_sized(plan, &n.base, bad[i]), KIFMM_ERR_STRUCT_SIZE);
    EXPECT(all_bytes(&n, sizeof(n), 0x5a), "size %zu: stats untouched", bad[i]);
  }
  EXPECT_STATUS(kifmm_plan_stats_sized(NULL, &g.s, sizeof(g.s)), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_stats_sized(plan, NULL, sizeof(g.s)), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_stats(NULL, &g.s), KIFMM_ERR_NULL_ARGUMENT);
  kifmm_plan_destroy(&plan);
}

static void test_set_cache_dir(const char *workdir, const double *x) {
  kifmm_options o = kifmm_default_options();
  EXPECT_STATUS(kifmm_options_set_cache_dir(NULL, "/tmp"), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, NULL), KIFMM_ERR_NULL_ARGUMENT);

  static char longest[KIFMM_PATH_MAX + 1];
  memset(longest, 'x', KIFMM_PATH_MAX);
  longest[KIFMM_PATH_MAX] = '\0'; /* KIFMM_PATH_MAX characters: one too many */
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, "/some/dir"), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, longest), KIFMM_ERR_IO);
  EXPECT(strcmp(o.cache_dir, "/some/dir") == 0, "too long: cache_dir kept '%s'", o.cache_dir);
  longest[KIFMM_PATH_MAX - 1] = '\0'; /* the longest that fits */
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, longest), KIFMM_SUCCESS);
  EXPECT(strlen(o.cache_dir) == KIFMM_PATH_MAX - 1, "longest fits: %zu", strlen(o.cache_dir));
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, o.cache_dir + 1000), KIFMM_SUCCESS);
  EXPECT(strlen(o.cache_dir) == KIFMM_PATH_MAX - 1001, "own tail: %zu", strlen(o.cache_dir));
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, ""), KIFMM_SUCCESS);
  EXPECT(o.cache_dir[0] == '\0', "empty: from the environment");

  kifmm_options raw;
  memset(&raw, 0, sizeof(raw));
  EXPECT_STATUS(kifmm_options_set_cache_dir(&raw, "/tmp"), KIFMM_ERR_STRUCT_SIZE);
  EXPECT(raw.cache_dir[0] == '\0', "unsized options untouched");

  /* The directory set is the one the plan stores its operators in. */
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s/setter-XXXXXX", workdir);
  if (!mkdtemp(dir)) {
    EXPECT(0, "mkdtemp %s", dir);
    return;
  }
  o = kifmm_default_options();
  o.order = 3;
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, dir), KIFMM_SUCCESS);
  kifmm_plan *plan = NULL;
  kifmm_stats st;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
  EXPECT(st.cache_result == KIFMM_CACHE_STORED, "cache_result %d", st.cache_result);
  kifmm_plan_destroy(&plan);
  DIR *d = opendir(dir);
  int files = 0;
  char path[2048];
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    files++;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    remove(path);
  }
  if (d)
    closedir(d);
  rmdir(dir);
  EXPECT(files == 1, "one operator file in %s, found %d", dir, files);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  uint64_t seed = 3;
  double *x = tu_alloc(3 * N);
  tu_points(TU_CUBE, N, &seed, x);
  EXPECT(KIFMM_ERR_STRUCT_SIZE == 25, "status code value");
  test_default_options_sized();
  test_create_refuses(x);
  test_stats_sized(x);
  test_set_cache_dir(argv[1], x);
  free(x);
  return tu_finish("test_abi_sizes");
}
