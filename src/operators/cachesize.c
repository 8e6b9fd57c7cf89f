/* SPDX-License-Identifier: BSD-3-Clause */
/* Storing a cache file (operators or the periodic far operator), and the cache's size limit:
 * before a file is stored, the least recently used cache
 * files of its directory are removed until the new one fits under KIFMM_CACHE_MAX_BYTES
 * (default 8 GiB). A hit refreshes its file's modification time, so "least recently used"
 * is the oldest mtime. Files of other programs are never touched: only names of the form
 * "<kernel>-float64-p<order>...h5" (our cache files, every format) count and can go.
 * Removing a file another process is reading is harmless (POSIX keeps it until closed), and
 * one it is about to open is recomputed there, like any miss. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operators/opcache.h"

#define KIFMM_CACHE_DEFAULT_MAX ((uint64_t)8 << 30)

uint64_t kifmm__cache_max_bytes(void) {
  const char *e = getenv("KIFMM_CACHE_MAX_BYTES");
  if (!e || !*e)
    return KIFMM_CACHE_DEFAULT_MAX;
  if (!strcmp(e, "unlimited"))
    return UINT64_MAX;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(e, &end, 10);
  int shift = 0;
  switch (*end) {
  case 'K': case 'k': shift = 10, end++; break;
  case 'M': case 'm': shift = 20, end++; break;
  case 'G': case 'g': shift = 30, end++; break;
  case 'T': case 't': shift = 40, end++; break;
  default: break;
  }
  if (errno || end == e || *end || e[0] == '-' || (shift && v > (UINT64_MAX >> shift)))
    return KIFMM_CACHE_DEFAULT_MAX; /* not a size: the documented default */
  return (uint64_t)v << shift;
}

static int is_cache_file(const char *name) {
  size_t len = strlen(name);
  return len > 3 && !strcmp(name + len - 3, ".h5") && strstr(name, "-float64-p") != NULL &&
         !strstr(name, ".tmp.");
}

typedef struct {
  char name[256];
  uint64_t bytes;
  struct timespec mtime;
} cache_entry;

static int older(const void *a, const void *b) {
  const struct timespec *x = &((const cache_entry *)a)->mtime, *y = &((const cache_entry *)b)->mtime;
  if (x->tv_sec != y->tv_sec)
    return x->tv_sec < y->tv_sec ? -1 : 1;
  return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* The cache files of dir and their total size. */
static int list_files(const char *dir, cache_entry **out, int *count, uint64_t *total) {
  DIR *d = opendir(dir);
  *out = NULL, *count = 0, *total = 0;
  if (!d)
    return KIFMM_SUCCESS; /* no directory yet: nothing stored */
  int cap = 0, status = KIFMM_SUCCESS;
  for (struct dirent *e; (e = readdir(d));) {
    char path[KIFMM_PATH_MAX + 300];
    struct stat st;
    if (!is_cache_file(e->d_name) || strlen(e->d_name) >= sizeof((*out)->name) ||
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (*count == cap) {
      cap = cap ? 2 * cap : 64;
      cache_entry *grown = realloc(*out, (size_t)cap * sizeof(cache_entry));
      if (!grown) {
        status = KIFMM_ERR_OUT_OF_MEMORY;
        break;
      }
      *out = grown;
    }
    cache_entry *c = &(*out)[(*count)++];
    snprintf(c->name, sizeof(c->name), "%s", e->d_name);
    c->bytes = (uint64_t)st.st_size;
    c->mtime = st.st_mtim;
    *total += c->bytes;
  }
  closedir(d);
  return status;
}

int kifmm__cache_make_room(const char *path, uint64_t bytes) {
  const uint64_t max = kifmm__cache_max_bytes();
  if (bytes > max)
    return 0;
  if (max == UINT64_MAX)
    return 1;
  char dir[KIFMM_PATH_MAX + 160];
  if (kifmm__path_dir(path, dir, sizeof(dir)) != KIFMM_SUCCESS)
    return 0;
  const char *slash = strrchr(path, '/'), *self = slash ? slash + 1 : path; /* its own name */
  cache_entry *files;
  int n;
  uint64_t total;
  if (list_files(dir, &files, &n, &total) != KIFMM_SUCCESS) {
    free(files);
    return 0;
  }
  if (n > 1) /* qsort wants a real array even for none */
    qsort(files, (size_t)n, sizeof(cache_entry), older);
  for (int i = 0; i < n && total + bytes > max; i++) {
    char victim[KIFMM_PATH_MAX + 300];
    if (snprintf(victim, sizeof(victim), "%s/%s", dir, files[i].name) >= (int)sizeof(victim))
      continue; /* cannot happen: list_files made the same path */
    /* gone already (another process evicted it) counts as removed */
    if (!strcmp(files[i].name, self) || unlink(victim) == 0 || errno == ENOENT)
      total -= files[i].bytes;
  }
  free(files);
  return total + bytes <= max;
}

void kifmm__cache_touch(const char *path) {
  /* best effort: a read-only cache directory simply keeps its old times */
  (void)utimensat(AT_FDCWD, path, NULL, 0);
}

int kifmm__cache_store(const char *path, uint64_t data_bytes, kifmm__h5_fill_fn fill,
                       const void *ctx) {
  const uint64_t bytes = data_bytes + ((uint64_t)1 << 20); /* and HDF5's own records */
  if (!kifmm__cache_make_room(path, bytes) || !kifmm__disk_room(path, bytes, 1))
    return KIFMM_ERR_IO;
  kifmm__h5_quiet quiet;
  kifmm__h5_quiet_begin(&quiet);
  int status = kifmm__h5_store(path, fill, ctx);
  kifmm__h5_quiet_end(&quiet);
  return status;
}
