/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed plans: after the partition, each rank builds its locally essential tree (the
 * global box structure, its own points and the ghost sources its lists need) and the fixed
 * point-to-point exchanges that every evaluation repeats around the serial passes. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "mpi/let.h"
#include "mpi/prune.h"
#include "kifmm_mpi.h"
#include "operators/opcache.h"
#include "mpi/partition.h"

/* A fixed exchange: item send_idx[e] (width doubles) of the sender's array goes to position
 * recv_idx[e] of the receiver's, rank by rank. Built once per plan, run per evaluation.
 * Positions are 32-bit, like MPI's counts: the charge and result exchanges hold one per
 * point, and a rank holding 2^31 points or boxes is refused (KIFMM_ERR_TOO_MANY_POINTS). */
typedef struct {
  int tag; /* its own, so that exchanges in flight together never match each other's messages */
  int nsend, nrecv;
  int *send_rank, *recv_rank;
  int64_t *send_ptr, *recv_ptr; /* nsend + 1, nrecv + 1 */
  int32_t *send_idx, *recv_idx;
} xpattern;

struct kifmm_let {
  MPI_Comm comm; /* the plan's own duplicate */
  int rank, size;
  int64_t nsrc_in, ntrg_in; /* the caller's counts on this rank */
  int64_t nsrc_global, ntrg_global;
  /* The exchanges read and write the tree's arrays directly (plan->q, the sorted results):
   * their indices on this rank's tree side are tree positions, so no copy in partition order
   * is kept between evaluations. */
  xpattern charges;         /* caller's sources -> their place in the leaf owner's tree */
  xpattern results;         /* run backwards: leaf owner's tree targets -> caller's targets */
  xpattern ghosts;          /* charges of sources other ranks' lists need */
  xpattern multipoles;      /* partial multipoles, added up where a list needs the box */
  /* message bytes and waiting time since the last reset (kifmm__let_evaluate) */
  int64_t sent, received;
  double t_wait;
};

/* Leaf of the global tree as every rank sees it (gathered once). */
typedef struct {
  kifmm_key anchor;
  int64_t level, nsrc, ntrg;
} gleaf;

static void pattern_free(xpattern *x) {
  free(x->send_rank);
  free(x->recv_rank);
  free(x->send_ptr);
  free(x->recv_ptr);
  free(x->send_idx);
  free(x->recv_idx);
  memset(x, 0, sizeof(*x));
}

/* Ranks with a nonzero count, as CSR bookends over the rank-ordered items. */
static int compress_ranks(int size, const int *count, int *nrank, int **rank, int64_t **ptr) {
  int m = 0;
  for (int r = 0; r < size; r++)
    m += count[r] > 0;
  ALLOC(*rank, m + 1);
  ALLOC(*ptr, m + 1);
  *nrank = m;
  int j = 0;
  for (int r = 0; r < size; r++)
    if (count[r] > 0) {
      (*rank)[j] = r;
      (*ptr)[j + 1] = (*ptr)[j] + count[r];
      j++;
    }
  return KIFMM_SUCCESS;
}

/* Each rank lists its needs: item need_idx[i] of rank need_rank[i], to land at dst[i]. The
 * senders learn what to send from one all-to-all; the receivers keep their order by rank. */
static int pattern_build(xpattern *x, int tag, MPI_Comm comm, int size, int64_t n,
                         const int *need_rank, const int64_t *need_idx, const int64_t *dst) {
  x->tag = tag;
  int *rcount, *rdisp, *scount, *sdisp;
  int32_t *want;
  ALLOC(rcount, size);
  ALLOC(rdisp, size + 1);
  ALLOC(scount, size);
  ALLOC(sdisp, size + 1);
  ALLOC(want, n + 1);
  ALLOC(x->recv_idx, n + 1);
  int status = KIFMM_SUCCESS;
  for (int64_t i = 0; i < n; i++)
    rcount[need_rank[i]]++;
  for (int r = 0; r < size; r++) {
    if ((int64_t)rdisp[r] + rcount[r] > INT_MAX)
      status = KIFMM_ERR_TOO_MANY_POINTS;
    rdisp[r + 1] = status ? 0 : rdisp[r] + rcount[r];
  }
  if (status == KIFMM_SUCCESS) {
    int *fill = sdisp; /* reused as a cursor before the all-to-all needs it */
    memcpy(fill, rdisp, (size_t)size * sizeof(int));
    for (int64_t i = 0; i < n; i++) {
      int pos = fill[need_rank[i]]++;
      if (need_idx[i] > INT32_MAX || dst[i] > INT32_MAX)
        status = KIFMM_ERR_TOO_MANY_POINTS;
      want[pos] = (int32_t)need_idx[i];
      x->recv_idx[pos] = (int32_t)dst[i];
    }
  }
  status = kifmm__mpi_agree(comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Alltoall(rcount, 1, MPI_INT, scount, 1, MPI_INT, comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  int64_t nsend = 0;
  for (int r = 0; r < size && status == KIFMM_SUCCESS; r++) {
    sdisp[r] = (int)nsend;
    nsend += scount[r];
  }
  if (nsend > INT_MAX)
    status = KIFMM_ERR_TOO_MANY_POINTS;
  status = kifmm__mpi_agree(comm, status);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&x->send_idx, (size_t)nsend + 1, sizeof(int32_t));
  status = kifmm__mpi_agree(comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Alltoallv(want, rcount, rdisp, MPI_INT32_T, x->send_idx, scount, sdisp, MPI_INT32_T,
                    comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  if (status == KIFMM_SUCCESS)
    status = compress_ranks(size, scount, &x->nsend, &x->send_rank, &x->send_ptr);
  if (status == KIFMM_SUCCESS)
    status = compress_ranks(size, rcount, &x->nrecv, &x->recv_rank, &x->recv_ptr);
  free(rcount);
  free(rdisp);
  free(scount);
  free(sdisp);
  free(want);
  return status;
}

/* One side of an exchange: ranks, bookends and item positions. */
typedef struct {
  int n;
  const int *rank;
  const int64_t *ptr;
  const int32_t *idx;
} xside;

/* An exchange in flight: opened (buffers), packed, posted, then waited for and closed. */
typedef struct {
  xside out, in;
  int width;
  int64_t nout, nin; /* items */
  double *sbuf, *rbuf;
  int own_sbuf, own_rbuf; /* allocated here, not lent by the caller */
  MPI_Request *req;
  int ok;
} xfer;

/* Caller's arrays an exchange may use as its buffers when they are large enough (cap
 * doubles each; NULL: none). */
typedef struct {
  double *s, *r;
  int64_t scap, rcap;
} xspace;

/* Buffers of an exchange (backwards: receivers send to senders); the caller packs f->sbuf,
 * item e of f->out going to f->sbuf + e * width, then calls xfer_post(). */
static int xfer_open(xfer *f, const xpattern *x, int backwards, int width, xspace sp) {
  xside a = {x->nsend, x->send_rank, x->send_ptr, x->send_idx};
  xside b = {x->nrecv, x->recv_rank, x->recv_ptr, x->recv_idx};
  *f = (xfer){backwards ? b : a, backwards ? a : b, width, 0, 0, NULL, NULL, 0, 0, NULL, 0};
  f->nout = f->out.n ? f->out.ptr[f->out.n] : 0;
  f->nin = f->in.n ? f->in.ptr[f->in.n] : 0;
  f->own_sbuf = !sp.s || sp.scap < f->nout * width;
  f->own_rbuf = !sp.r || sp.rcap < f->nin * width;
  f->sbuf = sp.s;
  f->rbuf = sp.r;
  if (f->own_sbuf)
    ALLOC(f->sbuf, f->nout * width + 1);
  if (f->own_rbuf)
    ALLOC(f->rbuf, f->nin * width + 1);
  ALLOC(f->req, f->out.n + f->in.n + 1);
  f->ok = 1;
  return KIFMM_SUCCESS;
}

/* Posts the receives and the sends of the packed buffer, counting the bytes. */
static void xfer_post(xfer *f, struct kifmm_let *let, int tag) {
  const int w = f->width;
  for (int j = 0; f->ok && j < f->in.n; j++)
    f->ok &= MPI_Irecv(f->rbuf + f->in.ptr[j] * w, (int)((f->in.ptr[j + 1] - f->in.ptr[j]) * w),
                       MPI_DOUBLE, f->in.rank[j], tag, let->comm, &f->req[j]) == MPI_SUCCESS;
  for (int j = 0; f->ok && j < f->out.n; j++)
    f->ok &= MPI_Isend(f->sbuf + f->out.ptr[j] * w,
                       (int)((f->out.ptr[j + 1] - f->out.ptr[j]) * w), MPI_DOUBLE,
                       f->out.rank[j], tag, let->comm, &f->req[f->in.n + j]) == MPI_SUCCESS;
  /* messages to itself (a rank's own charges and results) are not traffic */
  for (int j = 0; f->ok && j < f->out.n; j++)
    if (f->out.rank[j] != let->rank)
      let->sent += (f->out.ptr[j + 1] - f->out.ptr[j]) * w * (int64_t)sizeof(double);
  for (int j = 0; f->ok && j < f->in.n; j++)
    if (f->in.rank[j] != let->rank)
      let->received += (f->in.ptr[j + 1] - f->in.ptr[j]) * w * (int64_t)sizeof(double);
}

/* Waits for everything posted; the time counts as communication wait. */
static int xfer_wait(xfer *f, struct kifmm_let *let) {
  if (!f->ok)
    return KIFMM_ERR_MPI;
  double t0 = kifmm__wtime();
  f->ok = MPI_Waitall(f->in.n + f->out.n, f->req, MPI_STATUSES_IGNORE) == MPI_SUCCESS;
  let->t_wait += kifmm__wtime() - t0;
  return f->ok ? KIFMM_SUCCESS : KIFMM_ERR_MPI;
}

static void xfer_close(xfer *f) {
  if (f->own_sbuf)
    free(f->sbuf);
  if (f->own_rbuf)
    free(f->rbuf);
  free(f->req);
  f->sbuf = f->rbuf = NULL;
  f->req = NULL;
  f->ok = 0;
}

/* Packs item idx of src for every outgoing item and posts the exchange, so that local work
 * can run before xfer_finish(); src may be overwritten (or be the destination) in between.
 * A failed open leaves f->ok == 0, which xfer_finish() reports. */
static int xfer_start(xfer *f, const xpattern *x, int backwards, struct kifmm_let *let,
                      int width, const double *src) {
  int status = xfer_open(f, x, backwards, width, (xspace){0});
  if (status != KIFMM_SUCCESS) {
    xfer_close(f);
    return status;
  }
  for (int64_t e = 0; e < f->nout; e++)
    memcpy(f->sbuf + e * width, src + (int64_t)f->out.idx[e] * width,
           (size_t)width * sizeof(double));
  xfer_post(f, let, x->tag);
  return KIFMM_SUCCESS;
}

/* Waits and unpacks; add != 0 adds into dst, in rank order so that repeated runs are bitwise
 * equal. Safe on an xfer whose start failed (nothing was posted then). */
static int xfer_finish(xfer *f, struct kifmm_let *let, double *dst, int add) {
  int status = xfer_wait(f, let);
  const int w = f->width;
  for (int64_t e = 0; status == KIFMM_SUCCESS && e < f->nin; e++) {
    double *d = dst + (int64_t)f->in.idx[e] * w;
    for (int c = 0; c < w; c++)
      d[c] = add ? d[c] + f->rbuf[e * w + c] : f->rbuf[e * w + c];
  }
  xfer_close(f);
  return status;
}

static int pattern_run(const xpattern *x, int backwards, struct kifmm_let *let, int width,
                       const double *src, double *dst, int add) {
  xfer f;
  int status = xfer_start(&f, x, backwards, let, width, src);
  int s = xfer_finish(&f, let, dst, add);
  return status ? status : s;
}

void kifmm__let_free(struct kifmm_let *let) {
  if (!let)
    return;
  if (let->comm != MPI_COMM_NULL)
    MPI_Comm_free(&let->comm);
  pattern_free(&let->charges);
  pattern_free(&let->results);
  pattern_free(&let->ghosts);
  pattern_free(&let->multipoles);
  free(let);
}

/* ---- the global box structure from the gathered leaves ---- */

/* Every leaf's ancestors, deduplicated and sorted by level then anchor: the serial tree's
 * boxes, since its boxes are exactly its leaves and their ancestors. */
static int box_keys(int64_t nleaf, const gleaf *leaf, kifmm_key **key_out, int8_t **lev_out,
                    int64_t *nbox) {
  int64_t start[KIFMM_MAX_LEVEL + 2] = {0}, m = 0;
  for (int64_t g = 0; g < nleaf; g++)
    for (int l = 0; l <= leaf[g].level; l++)
      start[l + 1]++, m++;
  for (int l = 0; l <= KIFMM_MAX_LEVEL; l++)
    start[l + 1] += start[l];
  kifmm_key *key;
  int64_t *idx, fill[KIFMM_MAX_LEVEL + 1];
  ALLOC(key, m + 1);
  ALLOC(idx, m + 1);
  memcpy(fill, start, sizeof(fill));
  for (int64_t g = 0; g < nleaf; g++)
    for (int l = 0; l <= leaf[g].level; l++)
      key[fill[l]++] = leaf[g].anchor >> 3 * (leaf[g].level - l);
  int status = KIFMM_SUCCESS;
  for (int l = 0; l <= KIFMM_MAX_LEVEL && status == KIFMM_SUCCESS; l++)
    status = kifmm__sort_keys(key + start[l], idx + start[l], start[l + 1] - start[l]);
  free(idx);
  int8_t *lev = NULL;
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&lev, (size_t)m + 1, 1);
  int64_t n = 0;
  for (int l = 0; l <= KIFMM_MAX_LEVEL && status == KIFMM_SUCCESS; l++)
    for (int64_t i = start[l]; i < start[l + 1]; i++)
      if (i == start[l] || key[i] != key[i - 1]) {
        key[n] = key[i];
        lev[n++] = (int8_t)l;
      }
  *key_out = key;
  *lev_out = lev;
  *nbox = n;
  return status;
}

static int alloc_boxes(kifmm_tree *t, int64_t n, int64_t nleaf) {
  ALLOC(t->parent, n);
  ALLOC(t->first_child, n);
  ALLOC(t->nchild, n);
  ALLOC(t->leaf_index, n);
  ALLOC(t->src_begin, n);
  ALLOC(t->src_end, n);
  ALLOC(t->trg_begin, n);
  ALLOC(t->trg_end, n);
  ALLOC(t->leaf_box, nleaf + 1);
  ALLOC(t->leaf_src_ptr, nleaf + 1);
  ALLOC(t->leaf_trg_ptr, nleaf + 1);
  return KIFMM_SUCCESS;
}

/* Box arrays laid out as kifmm__tree_build() lays them out, for the gathered leaves. */
static int skeleton(kifmm_tree *t, int64_t nleaf, const gleaf *leaf) {
  int64_t n = 0;
  CHECK(box_keys(nleaf, leaf, &t->anchor, &t->level, &n));
  t->nbox = n;
  t->nleaf = nleaf;
  CHECK(alloc_boxes(t, n, nleaf));
  kifmm__tree_link_boxes(t);
  for (int64_t i = 0; i < n; i++)
    t->leaf_index[i] = -1;
  for (int64_t g = 0; g < nleaf; g++) {
    int64_t b = kifmm__tree_find(t, (int)leaf[g].level, leaf[g].anchor);
    t->leaf_box[g] = b;
    t->leaf_index[b] = g;
  }
  return KIFMM_SUCCESS;
}

/* Point ranges of leaves and boxes for per-leaf counts; children follow their parents in the
 * box order, so one backward sweep fills the parents. lb/le get each box's leaf range. */
static void set_ranges(kifmm_tree *t, const int64_t *cs, const int64_t *ct, int64_t *lb,
                       int64_t *le) {
  t->leaf_src_ptr[0] = t->leaf_trg_ptr[0] = 0;
  for (int64_t g = 0; g < t->nleaf; g++) {
    t->leaf_src_ptr[g + 1] = t->leaf_src_ptr[g] + cs[g];
    t->leaf_trg_ptr[g + 1] = t->leaf_trg_ptr[g] + ct[g];
  }
  t->nsrc = t->leaf_src_ptr[t->nleaf];
  t->ntrg = t->leaf_trg_ptr[t->nleaf];
  for (int64_t b = t->nbox - 1; b >= 0; b--) {
    int64_t g = t->leaf_index[b], first = b, last = b;
    if (g < 0) {
      first = t->first_child[b];
      last = first + t->nchild[b] - 1;
    } else {
      t->src_begin[b] = t->leaf_src_ptr[g];
      t->src_end[b] = t->leaf_src_ptr[g + 1];
      t->trg_begin[b] = t->leaf_trg_ptr[g];
      t->trg_end[b] = t->leaf_trg_ptr[g + 1];
      lb[b] = g;
      le[b] = g + 1;
      continue;
    }
    t->src_begin[b] = t->src_begin[first];
    t->src_end[b] = t->src_end[last];
    t->trg_begin[b] = t->trg_begin[first];
    t->trg_end[b] = t->trg_end[last];
    lb[b] = lb[first];
    le[b] = le[last];
  }
}

/* ---- plan construction ---- */

/* State of one construction: the partition, the gathered leaves and who owns them. */
typedef struct {
  kifmm_partition part;
  int64_t nleaf;
  gleaf *leaf;
  int *owner;          /* rank of each global leaf */
  int64_t *owner_off;  /* offset of the leaf's sources in its owner's partition order */
  int64_t *owner_toff; /* the same for targets */
  int64_t *lb, *le;    /* leaf range of each box */
  int8_t *ghost;       /* leaf whose sources this rank needs from another */
  int8_t *ghost_t;     /* leaf whose targets this rank needs (see mark_needs) */
  int8_t *need_m;      /* box whose complete multipole this rank needs */
  int64_t *own_pos;    /* partition source -> position in the local tree */
  int64_t *own_tpos;   /* partition target -> position in the local tree */
  int nsurf;           /* surface points of the order */
} build_state;

static int gather_leaves(struct kifmm_let *let, build_state *s) {
  const kifmm_partition *p = &s->part;
  int *count, *disp, *nleaf;
  ALLOC(count, let->size);
  ALLOC(disp, let->size + 1);
  ALLOC(nleaf, let->size);
  gleaf *mine;
  ALLOC(mine, p->nleaf + 1);
  for (int64_t j = 0; j < p->nleaf; j++)
    mine[j] = (gleaf){p->leaf_anchor[j], p->leaf_level[j],
                      p->leaf_src_ptr[j + 1] - p->leaf_src_ptr[j],
                      p->leaf_trg_ptr[j + 1] - p->leaf_trg_ptr[j]};
  int n = (int)p->nleaf;
  if (MPI_Allgather(&n, 1, MPI_INT, nleaf, 1, MPI_INT, let->comm) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  int64_t total = 0;
  for (int r = 0; r < let->size; r++) {
    count[r] = nleaf[r] * (int)sizeof(gleaf);
    disp[r] = (int)(total * (int64_t)sizeof(gleaf));
    total += nleaf[r];
  }
  /* no points anywhere: the serial tree is the root alone, a leaf (owner 0 from calloc) */
  if (total * (int64_t)sizeof(gleaf) > INT_MAX) /* total is the same on every rank */
    return KIFMM_ERR_TOO_MANY_POINTS;
  s->nleaf = total > 0 ? total : 1;
  ALLOC(s->leaf, s->nleaf);
  ALLOC(s->owner, s->nleaf);
  ALLOC(s->owner_off, s->nleaf);
  ALLOC(s->owner_toff, s->nleaf);
  int rc = MPI_Allgatherv(mine, n * (int)sizeof(gleaf), MPI_BYTE, s->leaf, count, disp,
                          MPI_BYTE, let->comm);
  for (int r = 0, g = 0; r < let->size; r++)
    for (int64_t j = 0, off = 0, toff = 0; j < nleaf[r]; j++, g++) {
      s->owner[g] = r;
      s->owner_off[g] = off;
      s->owner_toff[g] = toff;
      off += s->leaf[g].nsrc;
      toff += s->leaf[g].ntrg;
    }
  free(count);
  free(disp);
  free(nleaf);
  free(mine);
  return rc == MPI_SUCCESS ? KIFMM_SUCCESS : KIFMM_ERR_MPI;
}

static void mark_leaves(int8_t *mark, const build_state *s, int64_t box) {
  for (int64_t g = s->lb[box]; g < s->le[box]; g++)
    mark[g] = 1;
}

/* Points (sources, or targets) of the leaves [lo, hi) from a prefix over the global leaves. */
static int64_t range_count(const int64_t *prefix, int64_t lo, int64_t hi) {
  return hi > lo ? prefix[hi] - prefix[lo] : 0;
}

/* M2P sums a W-list box's sources directly when it holds at most n of them, else uses its
 * multipole; P2L sums an X-list box's sources directly into the box's targets when it holds
 * at most n targets, else goes through its check surface. The local count must fall on the
 * same side of n as the global one for the results to be the serial ones: a box gets all its
 * points of that kind when it has at most n in all, else enough of other ranks' points to
 * exceed n (results computed for other ranks' targets are thrown away). Marks only add
 * points, so a box settled earlier stays settled. */
static void settle_count(build_state *s, int64_t b, int sources, const int64_t *prefix,
                         int64_t own_lo, int64_t own_hi) {
  int8_t *mark = sources ? s->ghost : s->ghost_t;
  int64_t lb = s->lb[b], le = s->le[b];
  int all = range_count(prefix, lb, le) <= s->nsurf;
  int64_t local = range_count(prefix, lb > own_lo ? lb : own_lo, le < own_hi ? le : own_hi);
  for (int64_t g = lb; g < le && (all || local <= s->nsurf); g++) {
    if (g >= own_lo && g < own_hi) {
      g = own_hi - 1;
      continue;
    }
    int64_t n = sources ? s->leaf[g].nsrc : s->leaf[g].ntrg;
    if (n > 0) {
      mark[g] = 1;
      local += n;
    }
  }
}

static int settle_counts(const kifmm_plan *plan, build_state *s) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  int64_t own_lo = s->nleaf, own_hi = 0, *sp, *tp;
  ALLOC(sp, s->nleaf + 1);
  ALLOC(tp, s->nleaf + 1);
  for (int64_t g = 0; g < s->nleaf; g++) {
    sp[g + 1] = sp[g] + s->leaf[g].nsrc;
    tp[g + 1] = tp[g] + s->leaf[g].ntrg;
    if (s->owner[g] == s->part.rank) {
      own_lo = g < own_lo ? g : own_lo;
      own_hi = g + 1;
    }
  }
  for (int64_t b = 0; b < t->nbox; b++) {
    if (L->x_ptr[b + 1] > L->x_ptr[b])
      settle_count(s, b, 0, tp, own_lo, own_hi);
    for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++)
      settle_count(s, L->w_idx[e], 1, sp, own_lo, own_hi);
  }
  free(sp);
  free(tp);
  return KIFMM_SUCCESS;
}

/* What the lists of this rank's targets read: sources of U-list leaves and of X-list boxes
 * (P2P, P2L); multipoles of V-list boxes and of W-list boxes with more sources than surface
 * points; and the points that settle_counts() adds. Periodic lists need nothing more: an
 * entry's image shift moves the box's sources or multipole at evaluation, so a shifted entry
 * needs what an unshifted one of the same box does; the root's multipole is needed too. */
static int mark_needs(const kifmm_plan *plan, build_state *s) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  ALLOC(s->ghost, s->nleaf + 1);
  ALLOC(s->ghost_t, s->nleaf + 1);
  ALLOC(s->need_m, t->nbox);
  for (int64_t b = 0; b < t->nbox; b++) {
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
      mark_leaves(s->ghost, s, L->u_idx[e]);
    for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++)
      mark_leaves(s->ghost, s, L->x_idx[e]);
    for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) {
      int64_t c = L->w_idx[e];
      s->need_m[c] |= t->src_end[c] - t->src_begin[c] > s->nsurf;
    }
    for (int64_t e = L->v_ptr[b]; e < L->v_ptr[b + 1]; e++)
      s->need_m[L->v_idx[e]] = 1;
  }
  /* the far images act through the whole cell's multipole, a sum over every rank's sources */
  s->need_m[0] |= kifmm__periodic_any(&plan->opts);
  return settle_counts(plan, s);
}

/* Global box structure, lists from the global source counts and this rank's targets. */
static int build_lists(kifmm_plan *plan, struct kifmm_let *let, build_state *s) {
  kifmm_tree *t = &plan->tree;
  CHECK(skeleton(t, s->nleaf, s->leaf));
  int64_t *cs, *ct;
  ALLOC(s->lb, t->nbox);
  ALLOC(s->le, t->nbox);
  ALLOC(cs, s->nleaf + 1);
  ALLOC(ct, s->nleaf + 1);
  for (int64_t g = 0; g < s->nleaf; g++) {
    cs[g] = s->leaf[g].nsrc;
    ct[g] = s->owner[g] == let->rank ? s->leaf[g].ntrg : 0;
  }
  set_ranges(t, cs, ct, s->lb, s->le);
  int status = kifmm__lists_build(&plan->lists, t, plan->nthreads);
  if (status == KIFMM_SUCCESS)
    status = mark_needs(plan, s);
  /* now the real ranges: own and ghost points */
  for (int64_t g = 0; g < s->nleaf && status == KIFMM_SUCCESS; g++) {
    int own = s->owner[g] == let->rank;
    cs[g] = own || s->ghost[g] ? s->leaf[g].nsrc : 0;
    ct[g] = own || s->ghost_t[g] ? s->leaf[g].ntrg : 0;
  }
  if (status == KIFMM_SUCCESS)
    set_ranges(t, cs, ct, s->lb, s->le);
  free(cs);
  free(ct);
  return status;
}

/* The local tree's points. No src_perm/trg_perm: the exchanges map the caller's order to
 * tree positions, and only the one-process evaluation (plan.c) reads the permutations. */
static int alloc_points(kifmm_tree *t) {
  ALLOC(t->sx, t->nsrc + 1);
  ALLOC(t->sy, t->nsrc + 1);
  ALLOC(t->sz, t->nsrc + 1);
  ALLOC(t->tx, t->ntrg + 1);
  ALLOC(t->ty, t->ntrg + 1);
  ALLOC(t->tz, t->ntrg + 1);
  return KIFMM_SUCCESS;
}

/* Own points (sources or targets) into their places in the local tree, interleaved, and the
 * marked leaves of other ranks through the exchange pat, which stays for later runs. */
static int place_kind(struct kifmm_let *let, const build_state *s, int targets,
                      const int64_t *leaf_ptr, const double *own_xyz, double *xyz,
                      int64_t *own_pos, xpattern *pat) {
  const int8_t *mark = targets ? s->ghost_t : s->ghost;
  const int64_t *off = targets ? s->owner_toff : s->owner_off;
  int64_t nghost = 0, i = 0, k = 0;
  for (int64_t g = 0; g < s->nleaf; g++) {
    int64_t n = targets ? s->leaf[g].ntrg : s->leaf[g].nsrc;
    if (s->owner[g] == let->rank)
      for (int64_t j = 0; j < n; j++, i++) {
        own_pos[i] = leaf_ptr[g] + j;
        memcpy(xyz + 3 * own_pos[i], own_xyz + 3 * i, 3 * sizeof(double));
      }
    else if (mark[g])
      nghost += n;
  }
  int *rank = NULL;
  int64_t *idx = NULL, *dst = NULL;
  int status = kifmm__calloc((void **)&rank, (size_t)nghost + 1, sizeof(int));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&idx, (size_t)nghost + 1, sizeof(int64_t));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&dst, (size_t)nghost + 1, sizeof(int64_t));
  for (int64_t g = 0; g < s->nleaf && status == KIFMM_SUCCESS; g++)
    if (s->owner[g] != let->rank && mark[g])
      for (int64_t j = 0; j < (targets ? s->leaf[g].ntrg : s->leaf[g].nsrc); j++, k++) {
        rank[k] = s->owner[g];
        idx[k] = off[g] + j;
        dst[k] = leaf_ptr[g] + j;
      }
  status = kifmm__mpi_agree(let->comm, status);
  if (status == KIFMM_SUCCESS)
    status = pattern_build(pat, targets ? 5 : 2, let->comm, let->size, nghost, rank, idx, dst);
  status = kifmm__mpi_agree(let->comm, status);
  if (status == KIFMM_SUCCESS)
    status = pattern_run(pat, 0, let, 3, own_xyz, xyz, 0);
  free(rank);
  free(idx);
  free(dst);
  return status;
}

static void split_xyz(int64_t n, const double *xyz, double *x, double *y, double *z) {
  for (int64_t m = 0; m < n; m++) {
    x[m] = xyz[3 * m];
    y[m] = xyz[3 * m + 1];
    z[m] = xyz[3 * m + 2];
  }
}

/* Own and ghost points of the local tree. The ghost sources' exchange is kept: their charges
 * follow the same way at every evaluation. */
static int place_points(kifmm_plan *plan, struct kifmm_let *let, build_state *s) {
  kifmm_tree *t = &plan->tree;
  const kifmm_partition *p = &s->part;
  CHECK(alloc_points(t));
  double *xyz;
  ALLOC(s->own_pos, p->nsrc + 1);
  ALLOC(s->own_tpos, p->ntrg + 1);
  int64_t nmax = t->nsrc > t->ntrg ? t->nsrc : t->ntrg;
  ALLOC(xyz, 3 * nmax + 1);
  xpattern tpat = {0};
  int status = place_kind(let, s, 0, t->leaf_src_ptr, p->src, xyz, s->own_pos, &let->ghosts);
  split_xyz(t->nsrc, xyz, t->sx, t->sy, t->sz);
  status = kifmm__mpi_agree(let->comm, status);
  if (status == KIFMM_SUCCESS)
    status = place_kind(let, s, 1, t->leaf_trg_ptr, p->trg, xyz, s->own_tpos, &tpat);
  split_xyz(t->ntrg, xyz, t->tx, t->ty, t->tz);
  pattern_free(&tpat);
  free(xyz);
  return status;
}

/* Partial multipoles: for each box this rank needs, every other rank holding sources below it
 * sends its partial sum (the leaves it owns), which this rank adds to its own. */
static int multipole_pattern(const kifmm_plan *plan, struct kifmm_let *let,
                             const build_state *s) {
  const kifmm_tree *t = &plan->tree;
  int64_t m = 0, cap = 0;
  for (int pass = 0; pass < 2; pass++) {
    int *rank = NULL;
    int64_t *idx = NULL;
    if (pass == 1) {
      ALLOC(rank, cap + 1);
      ALLOC(idx, cap + 1);
    }
    m = 0;
    for (int64_t b = 0; b < t->nbox; b++) {
      if (!s->need_m[b])
        continue;
      int last = -1; /* leaves are in rank order: each contributor once */
      for (int64_t g = s->lb[b]; g < s->le[b]; g++) {
        int r = s->owner[g];
        if (r == let->rank || r == last || s->leaf[g].nsrc == 0)
          continue;
        if (pass == 1) {
          rank[m] = r;
          idx[m] = b;
        }
        last = r;
        m++;
      }
    }
    cap = m;
    if (pass == 1) {
      int status = pattern_build(&let->multipoles, 3, let->comm, let->size, m, rank, idx, idx);
      free(rank);
      free(idx);
      return status;
    }
  }
  return KIFMM_SUCCESS;
}

/* Charges from the caller's order to the leaves' ranks; results back by the same pattern
 * run backwards for the targets. */
static int origin_patterns(struct kifmm_let *let, const kifmm_partition *p) {
  int64_t *dst;
  int64_t n = p->nsrc > p->ntrg ? p->nsrc : p->ntrg;
  ALLOC(dst, n + 1);
  for (int64_t i = 0; i < n; i++)
    dst[i] = i;
  int status = pattern_build(&let->charges, 1, let->comm, let->size, p->nsrc, p->src_rank,
                             p->src_index, dst);
  status = kifmm__mpi_agree(let->comm, status);
  if (status == KIFMM_SUCCESS)
    status = pattern_build(&let->results, 4, let->comm, let->size, p->ntrg, p->trg_rank,
                           p->trg_index, dst);
  free(dst);
  return status;
}

/* Shrinks an array to n elements of elem bytes; one that cannot be shrunk stays as it is. */
static void shrink(void *array_ptr, int64_t n, size_t elem) {
  void **a = array_ptr;
  void *p = realloc(*a, (size_t)(n > 0 ? n : 1) * elem);
  if (p)
    *a = p;
}

/* After pruning, the box, leaf and list bookend arrays keep the global skeleton's sizes: cut
 * them to the local tree (the lists' entries were all kept), so that free_state() can hand
 * the tails back. */
static void shrink_to_local(kifmm_tree *t, kifmm_lists *L) {
  const int64_t n = t->nbox, m = t->nleaf + 1;
  shrink(&t->anchor, n, sizeof(*t->anchor));
  shrink(&t->level, n, sizeof(*t->level));
  shrink(&t->parent, n, sizeof(*t->parent));
  shrink(&t->first_child, n, sizeof(*t->first_child));
  shrink(&t->nchild, n, sizeof(*t->nchild));
  shrink(&t->leaf_index, n, sizeof(*t->leaf_index));
  shrink(&t->src_begin, n, sizeof(*t->src_begin));
  shrink(&t->src_end, n, sizeof(*t->src_end));
  shrink(&t->trg_begin, n, sizeof(*t->trg_begin));
  shrink(&t->trg_end, n, sizeof(*t->trg_end));
  shrink(&t->leaf_box, m, sizeof(*t->leaf_box));
  shrink(&t->leaf_src_ptr, m, sizeof(*t->leaf_src_ptr));
  shrink(&t->leaf_trg_ptr, m, sizeof(*t->leaf_trg_ptr));
  shrink(&L->u_ptr, n + 1, sizeof(*L->u_ptr));
  shrink(&L->v_ptr, n + 1, sizeof(*L->v_ptr));
  shrink(&L->w_ptr, n + 1, sizeof(*L->w_ptr));
  shrink(&L->x_ptr, n + 1, sizeof(*L->x_ptr));
}

static void mark_list(int8_t *keep, const int64_t *ptr, const int64_t *idx, int64_t nbox) {
  for (int64_t e = 0; e < ptr[nbox]; e++)
    keep[idx[e]] = 1;
}

/* Drops the boxes this rank never touches (no local points, in no list) from the replicated
 * structure, so that expansions and passes scale with the rank's share; box numbers in the
 * lists and the multipole exchange follow. */
static int prune_local(kifmm_plan *plan, struct kifmm_let *let) {
  kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  int8_t *keep;
  int64_t *old2new;
  ALLOC(keep, t->nbox);
  ALLOC(old2new, t->nbox);
  for (int64_t b = 0; b < t->nbox; b++)
    keep[b] = t->src_end[b] > t->src_begin[b] || t->trg_end[b] > t->trg_begin[b];
  mark_list(keep, L->u_ptr, L->u_idx, t->nbox);
  mark_list(keep, L->v_ptr, L->v_idx, t->nbox);
  mark_list(keep, L->w_ptr, L->w_idx, t->nbox);
  mark_list(keep, L->x_ptr, L->x_idx, t->nbox);
  xpattern *m = &let->multipoles;
  for (int64_t e = 0; e < (m->nrecv ? m->recv_ptr[m->nrecv] : 0); e++)
    keep[m->recv_idx[e]] = 1;
  for (int64_t e = 0; e < (m->nsend ? m->send_ptr[m->nsend] : 0); e++)
    keep[m->send_idx[e]] = 1;
  int status = kifmm__tree_prune(t, &plan->lists, keep, old2new);
  for (int64_t e = 0; e < (m->nrecv ? m->recv_ptr[m->nrecv] : 0); e++)
    m->recv_idx[e] = (int32_t)old2new[m->recv_idx[e]]; /* smaller than before */
  for (int64_t e = 0; e < (m->nsend ? m->send_ptr[m->nsend] : 0); e++)
    m->send_idx[e] = (int32_t)old2new[m->send_idx[e]];
  if (status == KIFMM_SUCCESS)
    shrink_to_local(t, &plan->lists);
  free(keep);
  free(old2new);
  return status;
}

/* The one-process statistics of the local tree, and the communicator's. */
static void fill_stats(kifmm_plan *plan, const struct kifmm_let *let) {
  kifmm__plan_fill_stats(plan);
  plan->stats.nranks = let->size;
  plan->stats.rank = let->rank;
  plan->stats.nsrc_global = let->nsrc_global;
  plan->stats.ntrg_global = let->ntrg_global;
}

static int renumber(int64_t n, int32_t *idx, const int64_t *pos) {
  int status = KIFMM_SUCCESS;
  for (int64_t e = 0; e < n; e++) {
    if (pos[idx[e]] > INT32_MAX)
      status = KIFMM_ERR_TOO_MANY_POINTS;
    idx[e] = (int32_t)pos[idx[e]];
  }
  return status;
}

/* The tree side of the charge, ghost and result exchanges from partition order to tree
 * positions, so that evaluations unpack charges into plan->q, send ghosts from it and send
 * results from the sorted results without copies in partition order. */
static int to_tree_positions(struct kifmm_let *let, const build_state *s) {
  const xpattern *c = &let->charges, *g = &let->ghosts, *r = &let->results;
  int s1 = renumber(c->nrecv ? c->recv_ptr[c->nrecv] : 0, let->charges.recv_idx, s->own_pos);
  int s2 = renumber(g->nsend ? g->send_ptr[g->nsend] : 0, let->ghosts.send_idx, s->own_pos);
  int s3 = renumber(r->nrecv ? r->recv_ptr[r->nrecv] : 0, let->results.recv_idx, s->own_tpos);
  return s1 ? s1 : s2 ? s2 : s3;
}

/* Frees everything construction-only and hands the pages back: the passes' arrays, allocated
 * next, would otherwise not reuse the partition's freed holes and the rank's peak would hold
 * both (measured: about 30 MB of 200 at 1e6 points on 4 ranks). */
static void free_state(build_state *s) {
  kifmm__partition_free(&s->part);
  free(s->leaf);
  free(s->owner);
  free(s->owner_off);
  free(s->lb);
  free(s->le);
  free(s->ghost);
  free(s->ghost_t);
  free(s->owner_toff);
  free(s->need_m);
  free(s->own_pos);
  free(s->own_tpos);
  memset(s, 0, sizeof(*s));
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* The operators for the deepest level over all ranks (a kernel that is not homogeneous has
 * one set a level), obtained by rank 0 and received by the others. */
static int obtain_operators(kifmm_plan *plan, MPI_Comm c) {
  int depth = plan->tree.depth, deepest = depth;
  if (MPI_Allreduce(&depth, &deepest, 1, MPI_INT, MPI_MAX, c) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  kifmm_opspec spec;
  kifmm__plan_scale_kernel(plan, deepest, &spec);
  return kifmm__operators_obtain_comm(&plan->ops, &spec, &plan->opts, plan->nthreads, c,
                                      &plan->stats.cache_result);
}

/* A periodic plan's far-field operator (nc x n doubles, small), obtained by rank 0, from the
 * cache or computed, and sent to the others; every rank then splits off its mean alike. */
static int obtain_periodic_far(kifmm_plan *plan, MPI_Comm c, int rank) {
  if (!kifmm__periodic_any(&plan->opts))
    return KIFMM_SUCCESS;
  int state[2] = {KIFMM_SUCCESS, KIFMM_CACHE_NOT_USED};
  if (rank == 0)
    state[0] = kifmm__periodic_far_obtain(&plan->opts, plan->nthreads, &plan->periodic_far,
                                          &state[1]);
  if (MPI_Bcast(state, 2, MPI_INT, 0, c) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  CHECK(state[0]);
  const int64_t m = (int64_t)plan->ops.nc * plan->ops.n;
  int status = rank == 0 ? KIFMM_SUCCESS
                         : kifmm__calloc((void **)&plan->periodic_far, (size_t)m, sizeof(double));
  CHECK(kifmm__mpi_agree(c, status));
  if (MPI_Bcast(plan->periodic_far, (int)m, MPI_DOUBLE, 0, c) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  kifmm__periodic_center(plan);
  if (state[1] != KIFMM_CACHE_HIT)
    plan->stats.cache_result = state[1];
  return KIFMM_SUCCESS;
}

/* Each step returns the same status on every rank, so all ranks take the same path. */
static int build_let(kifmm_plan *plan, struct kifmm_let *let, int64_t nsrc, const double *src,
                     int64_t ntrg, const double *trg) {
  build_state s = {0};
  MPI_Comm c = let->comm;
  double t0 = kifmm__wtime();
  const kifmm_options *o = &plan->opts;
  kifmm_partition_cell cell = {{o->cell_origin[0], o->cell_origin[1], o->cell_origin[2]},
                               o->cell_length,
                               {o->periodic[0], o->periodic[1], o->periodic[2]}};
  int status = kifmm__partition_create_cell(&s.part, c, nsrc, src, ntrg, trg, o->ncrit,
                                            o->max_level, 1, NULL,
                                            kifmm__periodic_any(o) ? &cell : NULL);
  let->nsrc_global = s.part.nsrc_global;
  let->ntrg_global = s.part.ntrg_global;
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, gather_leaves(let, &s));
  plan->stats.t_partition = kifmm__wtime() - t0;
  if (status == KIFMM_SUCCESS) {
    kifmm_tree *t = &plan->tree;
    memcpy(t->center, s.part.center, sizeof(t->center));
    t->half = s.part.half;
    t->origin[0] = t->origin[1] = t->origin[2] = -1.0;
    t->side = 2.0;
    for (int d = 0; d < 3; d++) /* the lists then see the images (kifmm__tree_build_cell's) */
      t->periodic[d] = o->periodic[d];
  }
  s.nsurf = kifmm__surface_count(plan->opts.order);
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, build_lists(plan, let, &s));
  double t1 = kifmm__wtime();
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, place_points(plan, let, &s));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, multipole_pattern(plan, let, &s));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, prune_local(plan, let));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, origin_patterns(let, &s.part));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, to_tree_positions(let, &s));
  free_state(&s);
  double t2 = kifmm__wtime();
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, obtain_operators(plan, c));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, obtain_periodic_far(plan, c, let->rank));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(c, kifmm__plan_alloc_work(plan));
  free_state(&s);
  plan->stats.t_tree = t1 - t0;
  plan->stats.t_lists = t2 - t1;
  plan->stats.t_operators = kifmm__wtime() - t2;
  if (status == KIFMM_SUCCESS) {
    kifmm__plan_choose_precision(plan);
    fill_stats(plan, let);
  }
  return status;
}

/* A plan of this layer's own making that failed: its distributed part, then the rest. */
static void destroy_plan(kifmm_plan **p) {
  if (!*p)
    return;
  kifmm__let_free((*p)->let);
  kifmm__plan_free(*p);
  *p = NULL;
}

/* The automatic leaf size differs between ranks' samples; the largest one is used. So may the
 * order chosen from a tolerance (the far targets of one rank's points, kifmm__far_target_fraction):
 * the highest one and the tightest compression are. */
static int new_let_plan(MPI_Comm comm, int64_t nsrc, const double *src, int64_t ntrg,
                        const double *trg, const kifmm_options *opts, kifmm_plan **out) {
  kifmm_plan *p = NULL;
  int status = kifmm__mpi_agree(comm, kifmm__plan_new(nsrc, src, ntrg, trg, opts, &p));
  if (status != KIFMM_SUCCESS) {
    destroy_plan(&p);
    return status;
  }
  int ncrit = p->opts.ncrit;
  if (MPI_Allreduce(&ncrit, &p->opts.ncrit, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  int order = p->opts.order;
  double ctol = p->opts.compression_tol;
  if (p->opts.tolerance > 0.0 &&
      (MPI_Allreduce(&order, &p->opts.order, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS ||
       MPI_Allreduce(&ctol, &p->opts.compression_tol, 1, MPI_DOUBLE, MPI_MIN, comm) !=
           MPI_SUCCESS))
    status = KIFMM_ERR_MPI;
  status = kifmm__mpi_agree(comm, status == KIFMM_SUCCESS ? kifmm__calloc((void **)&p->let, 1,
                                                               sizeof(*p->let))
                                               : status);
  if (status == KIFMM_SUCCESS) {
    p->let->comm = MPI_COMM_NULL;
    status = MPI_Comm_dup(comm, &p->let->comm) == MPI_SUCCESS ? KIFMM_SUCCESS : KIFMM_ERR_MPI;
  }
  if (status != KIFMM_SUCCESS)
    destroy_plan(&p);
  *out = p;
  return status;
}

int kifmm__let_plan_create(kifmm_plan **plan, MPI_Comm comm, int64_t nsrc_local,
                           const double *src_local, int64_t ntrg_local, const double *trg_local,
                           const kifmm_options *opts) {
  kifmm_plan *p = NULL;
  CHECK(new_let_plan(comm, nsrc_local, src_local, ntrg_local, trg_local, opts, &p));
  struct kifmm_let *let = p->let;
  MPI_Comm_rank(let->comm, &let->rank);
  MPI_Comm_size(let->comm, &let->size);
  let->nsrc_in = nsrc_local;
  let->ntrg_in = ntrg_local;
  kifmm__progress_scope(&p->opts);
  int status = build_let(p, let, nsrc_local, src_local, ntrg_local, trg_local);
  kifmm__progress_scope(NULL);
  if (status != KIFMM_SUCCESS) {
    destroy_plan(&p);
    return status;
  }
  *plan = p;
  return KIFMM_SUCCESS;
}

/* ---- evaluation ----
 * nvec vectors travel together: densities as nvec sdim values a source
 * ([source][vector][component], the layout of plan->q), partial multipoles as the box's nvec
 * expansions ([box][vector][ne]), results as nvec groups of values (and gradients) a target,
 * tdim (4 tdim) numbers each. */

/* The caller's vectors (vector v at charges + v sd n, sd components a source) as
 * [source][vector][component]; the caller's own array when there is one vector. */
static int interleave_charges(int64_t n, int nv, int sd, const double *charges, double **out,
                              double **owned) {
  *owned = NULL;
  *out = (double *)charges;
  if (nv == 1)
    return KIFMM_SUCCESS;
  ALLOC(*owned, n * nv * sd + 1);
  for (int64_t i = 0; i < n; i++)
    for (int v = 0; v < nv; v++)
      for (int b = 0; b < sd; b++)
        (*owned)[(i * nv + v) * sd + b] = charges[v * sd * n + sd * i + b];
  *out = *owned;
  return KIFMM_SUCCESS;
}

/* The upward pass left each rank's own sources' moments (its ghosts' densities were still
 * zero); the far images and the 3D background need the whole cell's. Every rank calls it. */
static int sum_periodic_moments(kifmm_plan *plan, struct kifmm_let *let) {
  if (!plan->periodic_far)
    return KIFMM_SUCCESS;
  double t0 = kifmm__wtime();
  int rc = MPI_Allreduce(MPI_IN_PLACE, plan->periodic_moments, 5 * plan->nvec, MPI_DOUBLE,
                         MPI_SUM, let->comm);
  let->t_wait += kifmm__wtime() - t0;
  return rc == MPI_SUCCESS ? KIFMM_SUCCESS : KIFMM_ERR_MPI;
}

/* The passes with the exchanges between them; every rank runs every exchange whatever its
 * local status, so that a failure on one rank cannot leave the others waiting. Ghost charges
 * travel during the upward pass, and the partial multipoles (each rank's are sums over the
 * leaves it owns, which the exchange adds up) during the near field, which needs charges
 * only; the far field then reads the completed multipoles. */
static int run_passes(kifmm_plan *plan, struct kifmm_let *let, const double *charges,
                      int want_grad) {
  const int nv = plan->nvec, per_source = nv * plan->ops.sdim;
  memset(plan->q, 0, (size_t)plan->tree.nsrc * per_source * sizeof(double));
  int status = pattern_run(&let->charges, 0, let, per_source, charges, plan->q, 0);
  int blas = kifmm__blas_threads_push();
  xfer ghosts, multipoles;
  int s = xfer_start(&ghosts, &let->ghosts, 0, let, per_source, plan->q);
  status = status ? status : s;
  s = kifmm__evaluate_upward(plan);
  status = status ? status : s;
  s = sum_periodic_moments(plan, let);
  status = status ? status : s;
  s = xfer_start(&multipoles, &let->multipoles, 0, let, plan->ops.ne * nv, plan->multipole);
  status = status ? status : s;
  s = xfer_finish(&ghosts, let, plan->q, 0);
  status = status ? status : s;
  s = kifmm__evaluate_near(plan, want_grad);
  status = status ? status : s;
  s = xfer_finish(&multipoles, let, plan->multipole, 1);
  status = status ? status : s;
  s = kifmm__evaluate_far(plan, want_grad);
  status = status ? status : s;
  kifmm__blas_threads_pop(blas);
  return status;
}

/* Packs the results of the rank's targets that go back to callers, in the callers' units
 * (per = 4 tdim: values and gradients, tdim: values, for each of the nvec vectors); 0 when
 * one is not finite. */
static int pack_results(const kifmm_plan *plan, xfer *f, int per) {
  const double h = plan->tree.half, fac = plan->kernel->factor(plan->opts.kernel_param);
  const int nv = plan->nvec, td = plan->ops.tdim;
  const int64_t nt = plan->tree.ntrg;
  int ok = 1;
  for (int64_t e = 0; e < f->nout; e++)
    for (int v = 0; v < nv; v++) {
      int64_t m = f->out.idx[e] + v * nt;
      double *r = f->sbuf + (e * nv + v) * per;
      for (int c = 0; c < per; c++) {
        r[c] = c < td ? fac * plan->res[c][m] / h : fac * plan->res[c][m] / h / h;
        ok &= isfinite(r[c]) != 0;
      }
    }
  return ok;
}

/* kifmm__mpi_agree() during an evaluation: waiting there for the slowest rank counts as
 * communication wait. */
static int agree_timed(struct kifmm_let *let, int status) {
  double t0 = kifmm__wtime();
  status = kifmm__mpi_agree(let->comm, status);
  let->t_wait += kifmm__wtime() - t0;
  return status;
}

/* Results from the leaves' owners straight into the caller's arrays, once every rank knows
 * that all are representable (the caller's arrays are untouched otherwise). */
static int return_results(kifmm_plan *plan, struct kifmm_let *let, int want_grad, double *pot,
                          double *grad) {
  /* the expansions are free until the next evaluation: the buffers' pages, touched here,
   * would otherwise add to the rank's peak */
  const int nv = plan->nvec, td = plan->ops.tdim, per = (want_grad ? 4 : 1) * td;
  const int64_t cap = plan->tree.nbox * plan->ops.ne * nv, nt = let->ntrg_in;
  xfer f;
  int status = xfer_open(&f, &let->results, 1, per * nv,
                         (xspace){plan->multipole, plan->local, cap, cap});
  if (status == KIFMM_SUCCESS && !pack_results(plan, &f, per))
    status = KIFMM_ERR_NOT_REPRESENTABLE;
  status = agree_timed(let, status);
  if (status == KIFMM_SUCCESS) {
    xfer_post(&f, let, let->results.tag);
    status = xfer_wait(&f, let);
  }
  for (int64_t e = 0; status == KIFMM_SUCCESS && e < f.nin; e++)
    for (int v = 0; v < nv; v++) {
      int64_t j = f.in.idx[e];
      const double *r = f.rbuf + (e * nv + v) * per;
      memcpy(pot + td * (v * nt + j), r, (size_t)td * sizeof(double));
      if (grad)
        memcpy(grad + 3 * td * (v * nt + j), r + td, 3 * (size_t)td * sizeof(double));
    }
  xfer_close(&f);
  return agree_timed(let, status);
}

/* A periodic plan's charges must be neutral over all ranks' sources together: the sums are
 * added over the ranks, so every rank reaches the same verdict (and detail) before anything
 * is computed or written. */
static int check_neutral(const kifmm_plan *plan, struct kifmm_let *let, int nvec,
                         const double *charges) {
  if (!kifmm__periodic_any(&plan->opts))
    return KIFMM_SUCCESS;
  double *sums = NULL;
  int status = kifmm__mpi_agree(
      let->comm, kifmm__calloc((void **)&sums, 2 * (size_t)nvec, sizeof(double)));
  if (status == KIFMM_SUCCESS) {
    kifmm__periodic_charge_sums(plan->nthreads, let->nsrc_in, nvec, charges, sums);
    if (MPI_Allreduce(MPI_IN_PLACE, sums, 2 * nvec, MPI_DOUBLE, MPI_SUM, let->comm) !=
        MPI_SUCCESS)
      status = KIFMM_ERR_MPI;
  }
  if (status == KIFMM_SUCCESS)
    status = kifmm__periodic_neutral_verdict(nvec, sums);
  free(sums);
  return kifmm__mpi_agree(let->comm, status); /* should an MPI fail on one rank only */
}

/* Every rank passes the same nvec; the checks are agreed first so that all take one path. */
int kifmm__let_evaluate(kifmm_plan *plan, int nvec, const double *charges, double *pot,
                        double *grad) {
  struct kifmm_let *let = plan->let;
  double t0 = kifmm__wtime();
  let->sent = let->received = 0;
  let->t_wait = 0;
  const int sd = plan->ops.sdim, td = plan->ops.tdim;
  int checked = kifmm__check_evaluation(nvec, let->nsrc_in * sd, let->ntrg_in,
                                        8 * (let->nsrc_in * sd + 4 * td * let->ntrg_in + 1),
                                        charges, pot);
  int local[4] = {checked, grad != NULL, nvec, -nvec}, all[4];
  if (MPI_Allreduce(local, all, 4, MPI_INT, MPI_MAX, let->comm) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  if (all[0] == KIFMM_SUCCESS && all[2] != -all[3])
    all[0] = KIFMM_ERR_INVALID_NVEC; /* the ranks disagree on nvec */
  if (all[0] != KIFMM_SUCCESS)
    return all[0];
  if (nvec == 0)
    return KIFMM_SUCCESS;
  plan->nthreads = plan->opts.num_threads > 0 ? plan->opts.num_threads : omp_get_max_threads();
  double *q = NULL, *owned = NULL;
  int status = check_neutral(plan, let, nvec, charges);
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(let->comm, kifmm__plan_reserve(plan, nvec));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(let->comm, interleave_charges(let->nsrc_in, nvec, sd, charges, &q,
                                                            &owned));
  kifmm__progress_scope(&plan->opts);
  if (status == KIFMM_SUCCESS)
    status = agree_timed(let, run_passes(plan, let, q, all[1]));
  free(owned);
  if (status == KIFMM_SUCCESS)
    status = return_results(plan, let, all[1], pot, grad);
  kifmm__progress_scope(NULL);
  plan->stats.bytes_sent = let->sent;
  plan->stats.bytes_received = let->received;
  plan->stats.t_comm_wait = let->t_wait;
  if (status != KIFMM_SUCCESS)
    return status;
  plan->stats.t_evaluate = kifmm__wtime() - t0;
  plan->stats.nevaluations++;
  plan->stats.nvec = nvec;
  return KIFMM_SUCCESS;
}
