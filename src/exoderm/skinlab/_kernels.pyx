# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the engine where a chain of OpenCV calls makes one pass per call.

Each function computes what a short chain of OpenCV calls computes, in one pass: the
chain's intermediate images, each a full trip through memory, are never made. The hot loops
are plain C (below, with ``restrict`` pointers so that the compiler vectorises them); Cython
only checks and hands over the arrays. ``tests/skinlab/test_kernels.py`` holds each function
to the OpenCV chain it replaces.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memset

import numpy as np

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <stdlib.h>

    /* The row loops are compiled twice, for AVX2 and for any x86-64, and the loader picks
       one (no FMA: the same rounding everywhere). */
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    #define XD_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define XD_CLONES
    #endif

    /* Index i, at most one step outside 0..n-1, reflected as OpenCV's BORDER_REFLECT_101. */
    static inline Py_ssize_t xd_reflect(Py_ssize_t i, Py_ssize_t n) {
        if (i < 0) return n > 1 ? 1 : 0;
        if (i >= n) return n > 1 ? n - 2 : 0;
        return i;
    }

    /* The three horizontal 3-tap filters of the 3x3 Sobel kernels along one row:
       second difference [1 -2 1], smoothing [1 2 1] and central difference [-1 0 1]. */
    XD_CLONES static void xd_row_filters(const float *restrict row, Py_ssize_t m,
                               float *restrict d2, float *restrict sm, float *restrict df) {
        if (m == 1) { d2[0] = 0.0f; sm[0] = 4.0f * row[0]; df[0] = 0.0f; return; }
        d2[0] = (row[1] + row[1]) - 2.0f * row[0];
        sm[0] = (row[1] + row[1]) + 2.0f * row[0];
        df[0] = 0.0f;
        for (Py_ssize_t x = 1; x < m - 1; x++) {
            float l = row[x - 1], c = row[x], r = row[x + 1];
            d2[x] = (l + r) - 2.0f * c;
            sm[x] = (l + r) + 2.0f * c;
            df[x] = r - l;
        }
        Py_ssize_t e = m - 1;
        d2[e] = (row[e - 1] + row[e - 1]) - 2.0f * row[e];
        sm[e] = (row[e - 1] + row[e - 1]) + 2.0f * row[e];
        df[e] = 0.0f;
    }

    /* Rows of filters: up (u), middle (c) and down (d), each second difference, smoothing
       and central difference. */
    typedef struct { const float *u2, *us, *ud, *c2, *cs, *cd, *d2, *ds, *dd; } xd_rows;

    /* One output row of the valley strength: sigma^2 lambda1 - pen * sigma |grad| where the
       Hessian is line-like ((1 - a) tr - (1 + a) disc <= 0), else 0. */
    XD_CLONES static void xd_valley_row(xd_rows r, Py_ssize_t m, float sigma, float pen, float a,
                              float *restrict out) {
        const float *restrict u2 = r.u2, *restrict us = r.us, *restrict ud = r.ud;
        const float *restrict c2 = r.c2, *restrict cs = r.cs, *restrict cd = r.cd;
        const float *restrict d2 = r.d2, *restrict ds = r.ds, *restrict dd = r.dd;
        /* a 3x3 Sobel second derivative is 4x the derivative, a first derivative 8x */
        const float s2 = sigma * sigma / 4.0f, s1 = sigma / 8.0f;
        const float a_tr = 1.0f - a, a_disc = -(1.0f + a);
        for (Py_ssize_t x = 0; x < m; x++) {
            float xx = (u2[x] + 2.0f * c2[x] + d2[x]) * s2;
            float yy = (us[x] - 2.0f * cs[x] + ds[x]) * s2;
            float xy = (dd[x] - ud[x]) * (2.0f * s2);
            float gx = (ud[x] + 2.0f * cd[x] + dd[x]) * s1;
            float gy = (ds[x] - us[x]) * s1;
            float tr = xx + yy, diff = xx - yy;
            float disc = sqrtf(diff * diff + xy * xy);
            float resp = (tr * 0.5f + disc * 0.5f) - pen * sqrtf(gx * gx + gy * gy);
            out[x] = tr * a_tr + disc * a_disc <= 0.0f ? resp : 0.0f;
        }
    }

    /* One output row of the round-dot strength: sigma^2 lambda2 where tr >= 3 disc (both
       eigenvalues positive, lambda2 >= lambda1 / 2), else 0. */
    XD_CLONES static void xd_blob_row(xd_rows r, Py_ssize_t m, float sigma, float *restrict out) {
        const float *restrict u2 = r.u2, *restrict us = r.us, *restrict ud = r.ud;
        const float *restrict c2 = r.c2, *restrict cs = r.cs;
        const float *restrict d2 = r.d2, *restrict ds = r.ds, *restrict dd = r.dd;
        const float s2 = sigma * sigma / 4.0f;
        for (Py_ssize_t x = 0; x < m; x++) {
            float xx = (u2[x] + 2.0f * c2[x] + d2[x]) * s2;
            float yy = (us[x] - 2.0f * cs[x] + ds[x]) * s2;
            float xy = (dd[x] - ud[x]) * (2.0f * s2);
            float tr = xx + yy, diff = xx - yy;
            float disc = sqrtf(diff * diff + xy * xy);
            out[x] = tr - 3.0f * disc > 0.0f ? tr * 0.5f - disc * 0.5f : 0.0f;
        }
    }

    /* Hessian strength of the window g[y0:y0+n, x0:x0+m] (row stride `stride` floats), borders
       reflected; blob != 0 for the round-dot strength, else the valley strength. `work` holds
       9 * m floats: the row filters of three rows, each computed once. */
    static void xd_hessian_level(const float *g, Py_ssize_t stride, Py_ssize_t y0, Py_ssize_t x0,
                                 Py_ssize_t n, Py_ssize_t m, float sigma, int blob, float pen,
                                 float a, float *work, float *out) {
        Py_ssize_t slot_row[3] = {-1, -1, -1};
        for (Py_ssize_t y = 0; y < n; y++) {
            Py_ssize_t want[3] = {xd_reflect(y - 1, n), y, xd_reflect(y + 1, n)};
            int slot_of[3];
            for (int k = 0; k < 3; k++) {
                slot_of[k] = -1;
                for (int s = 0; s < 3; s++) if (slot_row[s] == want[k]) slot_of[k] = s;
            }
            for (int k = 0; k < 3; k++) {
                if (slot_of[k] >= 0) continue;
                int free_slot = 0;  /* a slot no wanted row is using */
                for (int s = 0; s < 3; s++) {
                    int used = 0;
                    for (int j = 0; j < 3; j++) used |= slot_of[j] == s;
                    if (!used) { free_slot = s; break; }
                }
                float *w = work + 3 * m * free_slot;
                xd_row_filters(g + (y0 + want[k]) * stride + x0, m, w, w + m, w + 2 * m);
                slot_row[free_slot] = want[k];
                slot_of[k] = free_slot;
            }
            const float *u = work + 3 * m * slot_of[0], *c = work + 3 * m * slot_of[1],
                        *d = work + 3 * m * slot_of[2];
            xd_rows r = {u, u + m, u + 2 * m, c, c + m, c + 2 * m, d, d + m, d + 2 * m};
            if (blob) xd_blob_row(r, m, sigma, out + y * m);
            else xd_valley_row(r, m, sigma, pen, a, out + y * m);
        }
    }

    /* Means of k x k blocks of an 8-bit image with c channels (rows of w_in * c bytes, row
       stride `stride`), rounded as OpenCV's cvRound of (block sum * (float)(1 / k^2)). `acc`
       holds w * k * c 16-bit sums. */
    XD_CLONES static void xd_area_downscale(const uint8_t *src, Py_ssize_t stride, Py_ssize_t h, Py_ssize_t w,
                                  Py_ssize_t c, int k, uint16_t *restrict acc, uint8_t *dst) {
        const Py_ssize_t len = w * k * c;
        const float scale = 1.0f / (float)(k * k);
        for (Py_ssize_t y = 0; y < h; y++) {
            const uint8_t *restrict row = src + y * k * stride;
            for (Py_ssize_t j = 0; j < len; j++) acc[j] = row[j];
            for (int r = 1; r < k; r++) {
                row = src + (y * k + r) * stride;
                for (Py_ssize_t j = 0; j < len; j++) acc[j] = (uint16_t)(acc[j] + row[j]);
            }
            uint8_t *restrict out = dst + y * w * c;
            for (Py_ssize_t x = 0; x < w; x++) {
                for (Py_ssize_t ch = 0; ch < c; ch++) {
                    unsigned int s = 0;
                    for (int i = 0; i < k; i++) s += acc[(x * k + i) * c + ch];
                    out[x * c + ch] = (uint8_t)lrintf((float)s * scale);
                }
            }
        }
    }

    /* Sums of labelled regions over planes whose rows are `stride` floats apart (the L*a*b*
       planes `lab_stride`), all starting at the box's first pixel: label v (1..nlab) in `labels` (rows of m bytes, `label_stride`
       apart) adds to out[v - 1] and to its histograms hist[v - 1] (3 x nbins). Each region's
       pixels are visited in raster order, so its sums do not depend on the other labels.
       Returns -1 at a label above nlab. */
    typedef struct { double tone, tone_sq, a_excess, texture_sq; long long red, npx; } xd_sums;

    static int xd_region_sums(Py_ssize_t n, Py_ssize_t m, const uint8_t *labels, Py_ssize_t label_stride,
                              int nlab, const float *L, const float *A, const float *B, Py_ssize_t lab_stride,
                              Py_ssize_t stride, const int *lo, Py_ssize_t nbins, uint32_t *hist, const float *tone,
                              const uint8_t *red, Py_ssize_t red_stride, const float *aex,
                              const float *tex, xd_sums *out) {
        const float *planes[3] = {L, A, B};
        for (Py_ssize_t y = 0; y < n; y++) {
            const uint8_t *lb = labels + y * label_stride;
            Py_ssize_t o = y * stride, ol = y * lab_stride;
            for (Py_ssize_t x = 0; x < m; x++) {
                int v = lb[x];
                if (!v) continue;
                if (v > nlab) return -1;
                xd_sums *s = out + (v - 1);
                s->npx++;
                if (hist) {
                    uint32_t *h = hist + (Py_ssize_t)(v - 1) * 3 * nbins;
                    for (int c = 0; c < 3; c++) {
                        /* q = rint(100 v) - lo, as the float32 product numpy rounds */
                        long q = lrintf(planes[c][ol + x] * 100.0f) - lo[c];
                        q = q < 0 ? 0 : (q >= nbins ? nbins - 1 : q);
                        h[c * nbins + q]++;
                    }
                }
                if (tone) { double t = tone[o + x]; s->tone += t; s->tone_sq += t * t; }
                if (red) s->red += red[y * red_stride + x] != 0;
                if (aex) s->a_excess += aex[o + x];
                if (tex) { double e = tex[o + x]; s->texture_sq += e * e; }
            }
        }
        return 0;
    }

    /* ---- bilinear upsampling of a small grid, one output row at a time ------------------
       The geometry is OpenCV's INTER_LINEAR: output pixel d of n_dst samples the source at
       (d + 0.5) * n_src / n_dst - 0.5, clamped to the first and last source sample. */
    typedef struct {
        const float *g;          /* grid, rows `stride` floats apart */
        Py_ssize_t gh, gw, stride, h, w;  /* grid size, output size */
        Py_ssize_t *x0, *x1;     /* per output column: the two source columns */
        float *fx;               /* per output column: weight of x1 */
        float *ra, *rb;          /* grid rows `cached` and the next, interpolated along x */
        Py_ssize_t cached;
    } xd_up;

    static void xd_axis(Py_ssize_t n_src, Py_ssize_t n_dst, Py_ssize_t d, Py_ssize_t *i0,
                        Py_ssize_t *i1, float *f) {
        float x = (float)((d + 0.5) * ((double)n_src / (double)n_dst) - 0.5);
        Py_ssize_t i = (Py_ssize_t)floorf(x);
        x -= (float)i;
        if (i < 0) { i = 0; x = 0.0f; }
        if (i >= n_src - 1) { i = n_src - 1; x = 0.0f; }
        *i0 = i; *i1 = i + 1 < n_src ? i + 1 : i; *f = x;
    }

    /* 0 on success, -1 when out of memory. */
    static int xd_up_init(xd_up *u, const float *g, Py_ssize_t gh, Py_ssize_t gw, Py_ssize_t stride,
                          Py_ssize_t h, Py_ssize_t w) {
        u->g = g; u->gh = gh; u->gw = gw; u->stride = stride; u->h = h; u->w = w; u->cached = -1;
        u->x0 = malloc(2 * w * sizeof(Py_ssize_t));
        u->fx = malloc(3 * w * sizeof(float));
        if (!u->x0 || !u->fx) { free(u->x0); free(u->fx); u->x0 = NULL; u->fx = NULL; return -1; }
        u->x1 = u->x0 + w;
        u->ra = u->fx + w;
        u->rb = u->fx + 2 * w;
        for (Py_ssize_t x = 0; x < w; x++) xd_axis(gw, w, x, &u->x0[x], &u->x1[x], &u->fx[x]);
        return 0;
    }

    static void xd_up_free(xd_up *u) { free(u->x0); free(u->fx); u->x0 = NULL; u->fx = NULL; }

    static void xd_up_hrow(const xd_up *u, Py_ssize_t r, float *restrict out) {
        const float *row = u->g + r * u->stride;
        for (Py_ssize_t x = 0; x < u->w; x++) {
            float f = u->fx[x];
            out[x] = row[u->x0[x]] * (1.0f - f) + row[u->x1[x]] * f;
        }
    }

    /* Output row y of the upsampled grid, into `out` (w floats). Rows come in order, so each
       grid row is interpolated along x once. */
    XD_CLONES static void xd_up_row(xd_up *u, Py_ssize_t y, float *restrict out) {
        Py_ssize_t r0, r1;
        float f;
        xd_axis(u->gh, u->h, y, &r0, &r1, &f);
        if (u->cached != r0) {
            if (u->cached >= 0 && r0 == u->cached + 1) {  /* one grid row on: reuse the second */
                float *t = u->ra; u->ra = u->rb; u->rb = t;
                xd_up_hrow(u, r1, u->rb);
            } else {
                xd_up_hrow(u, r0, u->ra);
                xd_up_hrow(u, r1, u->rb);
            }
            u->cached = r0;
        }
        const float *restrict a = u->ra, *restrict b = u->rb;
        const float g = 1.0f - f;
        for (Py_ssize_t x = 0; x < u->w; x++) out[x] = a[x] * g + b[x] * f;
    }

    /* One row of xd_background_maps, the backgrounds already upsampled. */
    XD_CLONES static void xd_background_row(
            Py_ssize_t w, const float *restrict l, const float *restrict a, const uint8_t *restrict sk,
            const uint8_t *restrict far, const float *restrict b10, const float *restrict b10a,
            const float *restrict b5l, const float *restrict b5a, const float *restrict fl,
            float red_da, float spot_dl, float group_dl, float spot_da, float floor_l, float offset,
            float *restrict tone, float *restrict excess, uint8_t *restrict red, uint8_t *restrict cand,
            uint8_t *restrict group, float *restrict filled, float *restrict per_level) {
        for (Py_ssize_t x = 0; x < w; x++) {
            float lx = l[x], outside = far[x] ? b5l[x] : fl[x];
            /* the local level, floored B10 + offset; the maps are percent of it */
            float inv = 100.0f / ((b10[x] > floor_l ? b10[x] : floor_l) + offset);
            per_level[x] = inv;
            tone[x] = (lx - b10[x]) * inv;
            filled[x] = sk[x] ? lx : outside;
        }
        for (Py_ssize_t x = 0; x < w; x++) {
            /* the thresholds are percent of the local level: (floored B10 + offset) / 100 */
            float lvl = ((b10[x] > floor_l ? b10[x] : floor_l) + offset) * 0.01f;
            int skin = sk[x] != 0;
            int not_red = a[x] - b5a[x] <= spot_da * lvl;
            float dl = l[x] - b5l[x], da10 = a[x] - b10a[x];
            /* the a* excess in percent of the local level, as the thresholds */
            excess[x] = da10 > 0.0f ? da10 / lvl : 0.0f;
            red[x] = (uint8_t)(skin & (da10 >= red_da * lvl));
            cand[x] = (uint8_t)(skin & (dl <= spot_dl * lvl) & not_red);
            group[x] = (uint8_t)(skin & (dl <= group_dl * lvl) & not_red);
        }
    }

    /* The maps that the backgrounds give, in one pass over the crop (rows `stride` apart):
       tone residual L - B10 and a* excess max(a - B10a, 0), both in percent of the local level,
       100 / level itself (`per_level`), red (a - B10a >= red_da), spot
       candidates (L - B5l <= spot_dl and a - B5a <= spot_da, on the skin), the same with the
       weaker group_dl (what may join a spot's fragments), each threshold in percent of the
       local level max(B10, floor_l) + offset, and the filled-in
       L*: L on the skin, else the extrapolation `fill`, else (no skin near) B5l. The B are
       the background grids, upsampled bilinearly; `far` is a uint8 grid the size of `fill`'s,
       upsampled by nearest neighbour. Returns -1 when out of memory. */
    static int xd_background_maps(
            Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride, const float *L, const float *A,
            const uint8_t *skin, const float *const grids[5], const Py_ssize_t sizes[10],
            const uint8_t *far, float red_da, float spot_dl, float group_dl, float spot_da,
            float floor_l, float offset, float *tone, float *excess, uint8_t *red, uint8_t *cand, uint8_t *group, float *filled,
            float *per_level) {
        xd_up up[5];
        int ok = 0;
        for (int i = 0; i < 5; i++) {
            ok |= xd_up_init(&up[i], grids[i], sizes[2 * i], sizes[2 * i + 1], sizes[2 * i + 1], h, w);
        }
        float *buf = malloc(5 * w * sizeof(float));
        Py_ssize_t *far_x = malloc(w * sizeof(Py_ssize_t));
        uint8_t *far_buf = malloc(w);
        Py_ssize_t fh = sizes[8], fw = sizes[9];
        if (ok || !buf || !far_x || !far_buf) {
            for (int i = 0; i < 5; i++) xd_up_free(&up[i]);
            free(buf); free(far_x); free(far_buf);
            return -1;
        }
        /* nearest neighbour as OpenCV's INTER_NEAREST: floor(d * n_src / n_dst) */
        for (Py_ssize_t x = 0; x < w; x++) {
            Py_ssize_t i = (Py_ssize_t)floor(x * ((double)fw / (double)w));
            far_x[x] = i < fw - 1 ? i : fw - 1;
        }
        float *b10 = buf, *b10a = buf + w, *b5l = buf + 2 * w, *b5a = buf + 3 * w, *fl = buf + 4 * w;
        for (Py_ssize_t y = 0; y < h; y++) {
            xd_up_row(&up[0], y, b10);
            xd_up_row(&up[1], y, b10a);
            xd_up_row(&up[2], y, b5l);
            xd_up_row(&up[3], y, b5a);
            xd_up_row(&up[4], y, fl);
            Py_ssize_t fy = (Py_ssize_t)floor(y * ((double)fh / (double)h));
            const uint8_t *far_row = far + (fy < fh - 1 ? fy : fh - 1) * fw;
            for (Py_ssize_t x = 0; x < w; x++) far_buf[x] = far_row[far_x[x]];
            Py_ssize_t o = y * w;
            xd_background_row(w, L + y * stride, A + y * stride, skin + o, far_buf, b10, b10a, b5l, b5a, fl,
                              red_da, spot_dl, group_dl, spot_da, floor_l, offset, tone + o, excess + o, red + o, cand + o,
                              group + o, filled + o, per_level + o);
        }
        for (int i = 0; i < 5; i++) xd_up_free(&up[i]);
        free(buf); free(far_x); free(far_buf);
        return 0;
    }

    /* img = max(img, up(grid)) (op 0) or img = img - up(grid) (op 1), in place; img rows are
       `stride` floats apart. Returns -1 when out of memory. */
    static int xd_combine_upsampled(float *img, Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride,
                                    const float *g, Py_ssize_t gh, Py_ssize_t gw, int op) {
        xd_up up;
        float *row = malloc(w * sizeof(float));
        if (!row || xd_up_init(&up, g, gh, gw, gw, h, w)) { free(row); return -1; }
        for (Py_ssize_t y = 0; y < h; y++) {
            xd_up_row(&up, y, row);
            float *restrict d = img + y * stride;
            const float *restrict r = row;
            if (op == 0) for (Py_ssize_t x = 0; x < w; x++) d[x] = d[x] > r[x] ? d[x] : r[x];
            else for (Py_ssize_t x = 0; x < w; x++) d[x] = d[x] - r[x];
        }
        xd_up_free(&up);
        free(row);
        return 0;
    }
    /* ---- sRGB (8 bit) to CIE L*a*b*, planar ---------------------------------------------- */

    /* Cube root of t in [0, 1]: a first guess from the float's exponent bits (about 3 %
       off), then two Halley steps y <- y (y^3 + 2t) / (2y^3 + t), each cubing the error
       (3 % -> 3e-5 -> float precision). Branch-free, so that the row loop vectorises, as
       cbrtf (a libm call) does not. */
    static inline float xd_cbrt(float t) {
        union { float f; uint32_t i; } u = {t};
        u.i = u.i / 3u + 0x2a5137a0u;
        float y = u.f, y3 = y * y * y;
        y = y * (y3 + 2.0f * t) / (2.0f * y3 + t);
        y3 = y * y * y;
        return y * (y3 + 2.0f * t) / (2.0f * y3 + t);
    }

    /* CIE f(t): t^(1/3) above (6/29)^3, else the linear segment t / (3 (6/29)^2) + 4/29. */
    static inline float xd_lab_f(float t) {
        float lin = t * 7.787037f + 0.13793103f;
        float c = xd_cbrt(t > 1e-30f ? t : 1e-30f);  /* the guess needs t > 0 */
        return t > 0.008856452f ? c : lin;
    }

    /* Pixels x0..x1-1 of one row: linear light from the 256-entry table into `lin` (3 floats
       a pixel), the optional colour correction `ccm`, each channel clipped to [0, 1] as
       OpenCV's float conversion does, XYZ relative to the white (`m`, rows already divided
       by it), then L* = 116 f(Y) - 16, a* = 500 (f(X) - f(Y)), b* = 200 (f(Y) - f(Z)). The
       table lookups are a loop of their own: the arithmetic loop then vectorises. */
    XD_CLONES static void xd_lab_row(const uint8_t *restrict rgb, Py_ssize_t x0, Py_ssize_t x1,
                                     const float *restrict lut, const float *ccm, const float *restrict m,
                                     float *restrict lin, float *restrict L, float *restrict A,
                                     float *restrict B) {
        Py_ssize_t n = 3 * (x1 - x0);
        const uint8_t *restrict src = rgb + 3 * x0;
        for (Py_ssize_t i = 0; i < n; i++) lin[i] = lut[src[i]];
        float c0 = 1, c1 = 0, c2 = 0, c3 = 0, c4 = 1, c5 = 0, c6 = 0, c7 = 0, c8 = 1;
        if (ccm) {
            c0 = ccm[0]; c1 = ccm[1]; c2 = ccm[2]; c3 = ccm[3]; c4 = ccm[4];
            c5 = ccm[5]; c6 = ccm[6]; c7 = ccm[7]; c8 = ccm[8];
        }
        const float m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5],
                    m6 = m[6], m7 = m[7], m8 = m[8];
        L += x0; A += x0; B += x0;
        for (Py_ssize_t x = 0; x < x1 - x0; x++) {
            float r0 = lin[3 * x], g0 = lin[3 * x + 1], b0 = lin[3 * x + 2];
            float r = c0 * r0 + c1 * g0 + c2 * b0;
            float g = c3 * r0 + c4 * g0 + c5 * b0;
            float b = c6 * r0 + c7 * g0 + c8 * b0;
            r = r < 0.0f ? 0.0f : (r > 1.0f ? 1.0f : r);
            g = g < 0.0f ? 0.0f : (g > 1.0f ? 1.0f : g);
            b = b < 0.0f ? 0.0f : (b > 1.0f ? 1.0f : b);
            float fx = xd_lab_f(m0 * r + m1 * g + m2 * b);
            float fy = xd_lab_f(m3 * r + m4 * g + m5 * b);
            float fz = xd_lab_f(m6 * r + m7 * g + m8 * b);
            L[x] = 116.0f * fy - 16.0f;
            A[x] = 500.0f * (fx - fy);
            B[x] = 200.0f * (fy - fz);
        }
    }
    """
    void xd_hessian_level(const float* g, Py_ssize_t stride, Py_ssize_t y0, Py_ssize_t x0,
                          Py_ssize_t n, Py_ssize_t m, float sigma, int blob, float pen, float a,
                          float* work, float* out) noexcept nogil
    int xd_background_maps(
        Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride, const float* L, const float* A,
        const uint8_t* skin, const float* const* grids, const Py_ssize_t* sizes,
        const uint8_t* far, float red_da, float spot_dl, float group_dl, float spot_da,
        float floor_l, float offset, float* tone, float* excess, uint8_t* red, uint8_t* cand, uint8_t* group, float* filled,
        float* per_level) noexcept nogil
    int xd_combine_upsampled(float* img, Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride,
                             const float* g, Py_ssize_t gh, Py_ssize_t gw, int op) noexcept nogil
    ctypedef struct xd_sums:
        double tone, tone_sq, a_excess, texture_sq
        long long red, npx
    int xd_region_sums(Py_ssize_t n, Py_ssize_t m, const uint8_t* labels, Py_ssize_t label_stride,
                       int nlab, const float* L, const float* A, const float* B, Py_ssize_t lab_stride,
                       Py_ssize_t stride, const int* lo, Py_ssize_t nbins, uint32_t* hist, const float* tone,
                       const uint8_t* red, Py_ssize_t red_stride, const float* aex,
                       const float* tex, xd_sums* out) noexcept nogil
    void xd_area_downscale(const uint8_t* src, Py_ssize_t stride, Py_ssize_t h, Py_ssize_t w,
                           Py_ssize_t c, int k, uint16_t* acc, uint8_t* dst) noexcept nogil
    void xd_lab_row(const uint8_t* rgb, Py_ssize_t x0, Py_ssize_t x1, const float* lut, const float* ccm,
                    const float* m, float* lin, float* L, float* A, float* B) noexcept nogil

#: Largest whole factor of :func:`area_downscale` (a k x k block of 255s must fit 16 bits).
MAX_AREA_FACTOR = 16


def area_downscale(const uint8_t[:, :, ::1] src, int k):
    """Means of k x k blocks of an 8-bit image, rounded to the nearest (ties to even).

    The same values as ``cv2.resize(src[:h - h % k, :w - w % k], (w // k, h // k),
    interpolation=cv2.INTER_AREA)`` (OpenCV's whole-factor path: the integer block sum times
    the float 1 / k², rounded by ``cvRound``), in about half the time: the k rows of a block
    are first added column by column in 16 bits, a loop the compiler vectorises.

    Parameters
    ----------
    src : ndarray
        (H, W, C) uint8, C-contiguous.
    k : int
        Whole factor, 1 to :data:`MAX_AREA_FACTOR`; rows and columns past the last whole
        block are left out.

    Returns
    -------
    ndarray
        (H // k, W // k, C) uint8.
    """
    if not 1 <= k <= MAX_AREA_FACTOR:
        raise ValueError(f"factor must be 1 to {MAX_AREA_FACTOR}, got {k}")
    cdef Py_ssize_t h = src.shape[0] // k, w = src.shape[1] // k, c = src.shape[2]
    out = np.empty((h, w, c), np.uint8)
    if h == 0 or w == 0 or c == 0:
        return out
    cdef uint8_t[:, :, ::1] dst = out
    cdef uint16_t[::1] acc = np.empty(w * k * c, np.uint16)
    with nogil:
        xd_area_downscale(&src[0, 0, 0], src.shape[1] * c, h, w, c, k, &acc[0], &dst[0, 0, 0])
    return out


def _hessian_level(const float[:, ::1] g, Py_ssize_t y0, Py_ssize_t y1, Py_ssize_t x0, Py_ssize_t x1,
                   float sigma, bint blob, float edge_penalty, float anisotropy):
    if not (0 <= y0 <= y1 <= g.shape[0] and 0 <= x0 <= x1 <= g.shape[1]):
        raise ValueError(f"window [{y0}:{y1}, {x0}:{x1}] is outside the {g.shape[0]}x{g.shape[1]} image")
    cdef Py_ssize_t n = y1 - y0, m = x1 - x0
    out = np.empty((n, m), np.float32)
    if n == 0 or m == 0:
        return out
    cdef float[:, ::1] o = out
    cdef float[::1] work = np.empty(9 * m, np.float32)
    with nogil:
        xd_hessian_level(&g[0, 0], g.shape[1], y0, x0, n, m, sigma, blob, edge_penalty, anisotropy,
                         &work[0], &o[0, 0])
    return out


def valley_level(g, window, float sigma, float edge_penalty, float anisotropy):
    """Line-like valley strength over ``g[y0:y1, x0:x1]``, borders reflected (BORDER_REFLECT_101).

    σ²λ1 − ``edge_penalty``·σ|∇g| where λ2 <= ``anisotropy``·λ1, else 0, with the Hessian
    and the gradient from 3x3 Sobel filters: what a chain of OpenCV calls computes
    with five Sobel filters, two magnitudes and six arithmetic passes.

    Parameters
    ----------
    g : ndarray
        (H, W) float32, C-contiguous: the image smoothed at ``sigma``.
    window : tuple of int
        ``(y0, y1, x0, x1)``.
    sigma : float
        Scale of the smoothing, in pixels.

    Returns
    -------
    ndarray
        (y1 - y0, x1 - x0) float32.
    """
    y0, y1, x0, x1 = window
    return _hessian_level(g, y0, y1, x0, x1, sigma, False, edge_penalty, anisotropy)


def blob_level(g, window, float sigma):
    """Round-dot strength over ``g[y0:y1, x0:x1]``, borders reflected: σ²λ2 where both Hessian
    eigenvalues are positive and λ2 >= λ1 / 2, else 0 (see :func:`valley_level`).

    Parameters and result as :func:`valley_level`.
    """
    y0, y1, x0, x1 = window
    return _hessian_level(g, y0, y1, x0, x1, sigma, True, 0.0, 0.0)


cdef Py_ssize_t _row_stride(tuple planes) except -1:
    """The row stride, in floats, that float32 planes share; each row must be contiguous."""
    cdef const float[:, :] v
    cdef Py_ssize_t stride = -1
    for p in planes:
        v = p
        if v.shape[1] > 1 and v.strides[1] != sizeof(float):
            raise ValueError("plane rows must be contiguous")
        if v.strides[0] % sizeof(float):
            raise ValueError("plane rows must be whole floats apart")
        if stride >= 0 and v.shape[0] > 1 and v.strides[0] != stride * <Py_ssize_t>sizeof(float):
            raise ValueError("planes of different row strides")
        if stride < 0 or v.shape[0] > 1:
            stride = v.strides[0] // sizeof(float)
    return stride


cdef const float* _plane(object plane, Py_ssize_t H, Py_ssize_t W, Py_ssize_t y0, Py_ssize_t x0) except? NULL:
    """Pointer to ``plane[y0, x0]`` of an optional (H, W) float32 plane; NULL for None."""
    if plane is None:
        return NULL
    cdef const float[:, ::1] v = plane
    if v.shape[0] != H or v.shape[1] != W:
        raise ValueError("planes of different shapes")
    return &v[y0, x0]


def region_sums(
    const uint8_t[:, :] labels,
    Py_ssize_t y0,
    Py_ssize_t x0,
    int n_labels,
    const float[:, :] L,
    const float[:, :] a,
    const float[:, :] b,
    lo,
    Py_ssize_t n_bins,
    tone,
    red,
    a_excess,
    texture,
):
    """The additive statistics of labelled regions, all in one pass over their box.

    What would take one OpenCV call each, per region: histograms of the quantised L*, a*, b*
    (``calcHist``), the sum and the sum of squares of the tone residual (``meanStdDev``), the
    red pixel count, the sum of the a* excess (``mean``) and of the squared texture (``norm``);
    the sums in double precision, as OpenCV's, each region's in raster order (the same sums
    as a pass over that region alone).

    Parameters
    ----------
    labels : ndarray
        (h, w) uint8 inside the box: 0 outside every region, else the region's number 1 to
        ``n_labels`` (a bool mask viewed as uint8 is one region); rows may be a strided view
        but each row contiguous.
    y0, x0 : int
        The box's first pixel in the planes.
    n_labels : int
        Number of regions, 1 to 255.
    L, a, b : ndarray
        Float32 planes of the crop, all of one shape and row stride, each row contiguous (the
        planes of :func:`srgb8_to_lab`, or any C-contiguous planes).
    lo : tuple of int or None
        Per channel, the offset of q = rint(100·v) − lo (q must fit 0..``n_bins`` − 1 in the
        regions); None: no histograms.
    n_bins : int
        Histogram bins per channel, 1 to 65536.
    tone, a_excess, texture : ndarray or None
        Float32 planes of the crop's shape (the tone residual, the a* excess, the band-passed
        L*); None: that sum is 0.
    red : ndarray or None
        uint8 plane (a bool viewed as uint8) of the crop's shape; None: no red pixels.

    Returns
    -------
    tuple
        ``(hist, npx, tone, tone_sq, red, a_excess, texture_sq)``: ``hist`` a (n_labels, 3,
        n_bins) uint32 array or None, the others arrays of n_labels (int64 for the counts
        ``npx`` and ``red``, float64 for the sums).

    Raises
    ------
    ValueError
        For planes of different shapes, a box outside them, or a label above ``n_labels``.
    """
    cdef Py_ssize_t n = labels.shape[0], m = labels.shape[1]
    cdef Py_ssize_t H = L.shape[0], W = L.shape[1]
    if not (a.shape[0] == b.shape[0] == H and a.shape[1] == b.shape[1] == W):
        raise ValueError("planes of different shapes")
    cdef Py_ssize_t lab_stride = _row_stride((L, a, b))
    if not (0 <= y0 and y0 + n <= H and 0 <= x0 and x0 + m <= W):
        raise ValueError("region box outside the planes")
    if m > 1 and labels.strides[1] != 1:
        raise ValueError("label rows must be contiguous")
    if not 1 <= n_labels <= 255:
        raise ValueError(f"n_labels must be 1 to 255, got {n_labels}")
    if not 1 <= n_bins <= 65536:
        raise ValueError(f"n_bins must be 1 to 65536, got {n_bins}")
    cdef const float* tone_p = _plane(tone, H, W, y0, x0)
    cdef const float* aex_p = _plane(a_excess, H, W, y0, x0)
    cdef const float* tex_p = _plane(texture, H, W, y0, x0)
    cdef const uint8_t[:, ::1] red_v
    cdef const uint8_t* red_p = NULL
    if red is not None:
        red_v = red
        if red_v.shape[0] != H or red_v.shape[1] != W:
            raise ValueError("planes of different shapes")
        red_p = &red_v[y0, x0]
    cdef int lo3[3]
    cdef uint32_t* hist_p = NULL
    cdef uint32_t[:, :, ::1] hist_v
    hist = None
    if lo is not None:
        lo3[0], lo3[1], lo3[2] = lo
        hist = np.zeros((n_labels, 3, n_bins), np.uint32)
        hist_v = hist
        hist_p = &hist_v[0, 0, 0]
    sums = np.zeros(n_labels, dtype=[("tone", "f8"), ("tone_sq", "f8"), ("a_excess", "f8"),
                                     ("texture_sq", "f8"), ("red", "i8"), ("npx", "i8")])
    cdef xd_sums[::1] out = sums
    cdef int status = 0
    if n and m:
        with nogil:
            status = xd_region_sums(n, m, &labels[0, 0], labels.strides[0], n_labels, &L[y0, x0],
                                    &a[y0, x0], &b[y0, x0], lab_stride, W, lo3, n_bins, hist_p, tone_p, red_p, W,
                                    aex_p, tex_p, &out[0])
    if status:
        raise ValueError(f"a label above n_labels = {n_labels}")
    return (hist, sums["npx"].copy(), sums["tone"].copy(), sums["tone_sq"].copy(), sums["red"].copy(),
            sums["a_excess"].copy(), sums["texture_sq"].copy())


cdef const uint8_t[:, :] _rows_mask(object mask, Py_ssize_t h, Py_ssize_t w, str name):
    """An (h, w) uint8 mask whose rows are contiguous, as a memoryview; ValueError otherwise."""
    cdef const uint8_t[:, :] m = mask
    if m.shape[0] != h or m.shape[1] != w or (w > 1 and m.strides[1] != 1):
        raise ValueError(f"{name} must be (H, W) with contiguous rows")
    return m


ctypedef fused sample:
    uint8_t
    uint16_t


def clipped_count(const sample[:, :, :] rgb, mask, int full):
    """Pixels of an RGB image whose brightest channel is at 0 or at ``full``, in one pass.

    What takes ``cv2.split``, two ``cv2.max``, ``inRange`` and ``countNonZero`` otherwise: a
    channel at full scale, or every channel at zero.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16; rows may be a strided view, each row contiguous.
    mask : ndarray or None
        (H, W) uint8 (a bool viewed as uint8), each row contiguous; only pixels inside count.
    full : int
        Full-scale sample value (255 or 65535).

    Returns
    -------
    tuple of int
        ``(pixels, clipped)``: the pixels counted and those clipped among them.
    """
    cdef Py_ssize_t h = rgb.shape[0], w = rgb.shape[1], y, x
    if rgb.shape[2] != 3 or (w > 1 and rgb.strides[1] != 3 * rgb.strides[2]) or rgb.strides[2] != sizeof(sample):
        raise ValueError("expected (H, W, 3) with contiguous rows")
    cdef const uint8_t[:, :] m
    cdef bint masked = mask is not None
    if masked:
        m = _rows_mask(mask, h, w, "mask")
    cdef long long n = 0, clipped = 0
    cdef const sample* row
    cdef const uint8_t* mrow = NULL
    cdef unsigned int top
    if h == 0 or w == 0:
        return 0, 0
    with nogil:
        for y in range(h):
            row = &rgb[y, 0, 0]
            if masked:
                mrow = &m[y, 0]
            for x in range(w):
                if masked and not mrow[x]:
                    continue
                top = row[3 * x]
                if row[3 * x + 1] > top:
                    top = row[3 * x + 1]
                if row[3 * x + 2] > top:
                    top = row[3 * x + 2]
                n += 1
                clipped += top == 0 or top >= full
    return n, clipped



def background_maps(
    const float[:, :] L,
    const float[:, :] a,
    const uint8_t[:, ::1] skin,
    grids,
    const uint8_t[:, ::1] far,
    float red_da,
    float spot_dl,
    float group_dl,
    float spot_da,
    float level_floor,
    float level_offset,
):
    """The per-pixel maps of the backgrounds, in one pass over the crop.

    Each background grid is upsampled bilinearly to the crop (OpenCV's ``INTER_LINEAR``
    geometry) row by row, and only the maps that the metrics read are written.

    Parameters
    ----------
    L, a : ndarray
        (H, W) float32 L* and a* of the crop, of one row stride, each row contiguous.
    skin : ndarray
        (H, W) uint8 (a bool viewed as uint8), the skin.
    grids : tuple of ndarray
        Five C-contiguous float32 grids: the 10 mm tone background of L*, the 10 mm red
        background of a*, the 5 mm spot backgrounds of L* and a*, and the extrapolation of the
        skin's L* beyond the skin (``fill``).
    far : ndarray
        uint8 grid of ``fill``'s shape: no skin near (filled from the 5 mm background instead).
    red_da, spot_dl, group_dl, spot_da : float
        Thresholds in percent of the local level, max(10 mm background of L*, ``level_floor``)
        + ``level_offset``: red where Δa*(10 mm) >= ``red_da`` % of it; spot candidates where
        ΔL*(5 mm) <= ``spot_dl`` % and Δa*(5 mm) <= ``spot_da`` %; spot group pixels the same
        with ``group_dl``.
    level_floor, level_offset : float
        The floor of the 10 mm L* background and the offset added to it (L* 8 and 16: the
        local L* + 16).

    Returns
    -------
    tuple of ndarray
        ``(tone, a_excess, red, candidates, group, filled, per_level)``: float32 ΔL*(10 mm) and
        max(Δa*(10 mm), 0), both in percent of the local level, bool red, bool spot candidates,
        bool spot group pixels, float32 filled-in L*, and float32 100 / the local level (what
        turns any other ΔL* into percent of it).
    """
    cdef Py_ssize_t h = L.shape[0], w = L.shape[1], i
    if a.shape[0] != h or a.shape[1] != w or skin.shape[0] != h or skin.shape[1] != w:
        raise ValueError("L, a and skin must have one shape")
    if len(grids) != 5:
        raise ValueError("five grids expected")
    cdef Py_ssize_t lab_stride = _row_stride((L, a))
    cdef const float[:, ::1] gv
    cdef const float* gp[5]
    cdef Py_ssize_t sizes[10]
    for i in range(5):
        gv = grids[i]  # the caller's array (never a copy), alive as long as `grids`
        if gv.shape[0] < 1 or gv.shape[1] < 1:
            raise ValueError("empty grid")
        gp[i] = &gv[0, 0]
        sizes[2 * i], sizes[2 * i + 1] = gv.shape[0], gv.shape[1]
    if far.shape[0] != sizes[8] or far.shape[1] != sizes[9]:
        raise ValueError("far must have the fill grid's shape")
    tone = np.empty((h, w), np.float32)
    per_level = np.empty((h, w), np.float32)
    excess = np.empty((h, w), np.float32)
    red = np.empty((h, w), np.bool_)
    cand = np.empty((h, w), np.bool_)
    group = np.empty((h, w), np.bool_)
    filled = np.empty((h, w), np.float32)
    if h == 0 or w == 0:
        return tone, excess, red, cand, group, filled, per_level
    cdef float[:, ::1] tv = tone, ev = excess, fv = filled, pv = per_level
    cdef uint8_t[:, ::1] rv = red.view(np.uint8), cv = cand.view(np.uint8), gv8 = group.view(np.uint8)
    cdef int status
    with nogil:
        status = xd_background_maps(h, w, lab_stride, &L[0, 0], &a[0, 0], &skin[0, 0], gp, sizes, &far[0, 0],
                                    red_da, spot_dl, group_dl, spot_da, level_floor, level_offset, &tv[0, 0],
                                    &ev[0, 0], &rv[0, 0], &cv[0, 0], &gv8[0, 0], &fv[0, 0], &pv[0, 0])
    if status:
        raise MemoryError()
    return tone, excess, red, cand, group, filled, per_level


def _combine_upsampled(float[:, ::1] img, const float[:, ::1] grid, int op):
    if grid.shape[0] < 1 or grid.shape[1] < 1:
        raise ValueError("empty grid")
    cdef int status = 0
    if img.shape[0] and img.shape[1]:
        with nogil:
            status = xd_combine_upsampled(&img[0, 0], img.shape[0], img.shape[1], img.shape[1], &grid[0, 0],
                                          grid.shape[0], grid.shape[1], op)
    if status:
        raise MemoryError()


def max_upsampled(img, grid):
    """``img = max(img, up(grid))`` in place: ``grid`` (float32) upsampled bilinearly to
    ``img``'s (H, W) float32 shape (OpenCV's ``INTER_LINEAR`` geometry) without an array of
    that size."""
    _combine_upsampled(img, grid, 0)


def subtract_upsampled(img, grid):
    """``img = img - up(grid)`` in place (see :func:`max_upsampled`)."""
    _combine_upsampled(img, grid, 1)


def srgb8_to_lab(const uint8_t[:, :, :] rgb, const float[::1] lut, ccm, const float[:, ::1] to_xyz, need):
    """CIE L*a*b* of an 8-bit sRGB image as three planes, in one pass.

    What ``cv2.LUT`` (linear light), an optional ``cv2.transform`` (colour correction) and
    ``cv2.cvtColor(..., COLOR_LRGB2Lab)`` compute, without their intermediate images, and
    written as planes, the layout the metrics read.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 sRGB; rows may be a strided view.
    lut : ndarray
        (256,) float32 linear light of each 8-bit value.
    ccm : ndarray or None
        (3, 3) float32 colour correction in linear light, applied first (negatives then clipped).
    to_xyz : ndarray
        (3, 3) float32 linear RGB to XYZ, each row divided by the white's X, Y or Z.
    need : ndarray or None
        (H, W) uint8: only the pixels of each row from its first to its last non-zero one are
        converted, the others are 0.

    Returns
    -------
    ndarray
        (3, H, W) float32: L*, a*, b*.
    """
    cdef Py_ssize_t h = rgb.shape[0], w = rgb.shape[1], y, x0, x1
    if rgb.shape[2] != 3 or (w > 1 and rgb.strides[1] != 3) or rgb.strides[2] != 1:
        raise ValueError("expected (H, W, 3) with contiguous rows")
    if lut.shape[0] != 256 or to_xyz.shape[0] != 3 or to_xyz.shape[1] != 3:
        raise ValueError("expected a 256-entry table and a 3 x 3 matrix")
    cdef const float[:, ::1] cm
    cdef const float* ccm_p = NULL
    if ccm is not None:
        cm = ccm
        if cm.shape[0] != 3 or cm.shape[1] != 3:
            raise ValueError("ccm must be 3 x 3")
        ccm_p = &cm[0, 0]
    cdef const uint8_t[:, :] nd
    cdef bint masked = need is not None
    if masked:
        nd = _rows_mask(need, h, w, "need")
    out = np.empty((3, h, w), np.float32)
    if h == 0 or w == 0:
        return out
    cdef float[:, :, ::1] o = out
    cdef float[::1] lin = np.empty(3 * w, np.float32)
    cdef const uint8_t* nrow
    cdef int c
    with nogil:
        for y in range(h):
            x0, x1 = 0, w
            if masked:
                nrow = &nd[y, 0]
                while x0 < w and not nrow[x0]:
                    x0 += 1
                while x1 > x0 and not nrow[x1 - 1]:
                    x1 -= 1
                for c in range(3):  # the pixels not converted are 0
                    memset(&o[c, y, 0], 0, x0 * sizeof(float))
                    memset(&o[c, y, x1], 0, (w - x1) * sizeof(float))
            if x1 > x0:
                xd_lab_row(&rgb[y, 0, 0], x0, x1, &lut[0], ccm_p, &to_xyz[0, 0], &lin[0], &o[0, y, 0], &o[1, y, 0],
                           &o[2, y, 0])
    return out
