# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the engine where a chain of OpenCV calls makes one pass per call.

Each function computes what a short chain of OpenCV calls computes, in one pass: the
chain's intermediate images, each a full trip through memory, are never made. The hot loops
are plain C (below, with ``restrict`` pointers so that the compiler vectorises them); Cython
only checks and hands over the arrays. ``tests/skinlab/test_kernels.py`` holds each function
to the OpenCV chain it replaces.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t

import numpy as np

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>

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

    /* Sums of one region (mask rows of m bytes, `mask_stride` apart) over planes whose rows
       are `stride` floats apart, all starting at the region box's first pixel. */
    typedef struct { double tone, tone_sq, a_excess, texture_sq; long long red, npx; } xd_sums;

    static void xd_region_sums(Py_ssize_t n, Py_ssize_t m, const uint8_t *mask, Py_ssize_t mask_stride,
                               const float *L, const float *A, const float *B, Py_ssize_t stride,
                               const int *lo, uint32_t *hist, const float *tone, const uint8_t *red,
                               Py_ssize_t red_stride, const float *aex, const float *tex,
                               xd_sums *out) {
        double t = 0.0, t2 = 0.0, ax = 0.0, tx = 0.0;
        long long r = 0, npx = 0;
        const float *planes[3] = {L, A, B};
        for (Py_ssize_t y = 0; y < n; y++) {
            const uint8_t *mk = mask + y * mask_stride;
            Py_ssize_t o = y * stride;
            for (Py_ssize_t x = 0; x < m; x++) {
                if (!mk[x]) continue;
                npx++;
                if (hist) {
                    for (int c = 0; c < 3; c++) {
                        /* q = rint(100 v) - lo, as the float32 product numpy rounds */
                        long q = lrintf(planes[c][o + x] * 100.0f) - lo[c];
                        q = q < 0 ? 0 : (q > 65535 ? 65535 : q);
                        hist[c * 65536 + q]++;
                    }
                }
                if (tone) { double v = tone[o + x]; t += v; t2 += v * v; }
                if (red) r += red[y * red_stride + x] != 0;
                if (aex) ax += aex[o + x];
                if (tex) { double e = tex[o + x]; tx += e * e; }
            }
        }
        out->tone = t; out->tone_sq = t2; out->a_excess = ax; out->texture_sq = tx;
        out->red = r; out->npx = npx;
    }
    """
    void xd_hessian_level(const float* g, Py_ssize_t stride, Py_ssize_t y0, Py_ssize_t x0,
                          Py_ssize_t n, Py_ssize_t m, float sigma, int blob, float pen, float a,
                          float* work, float* out) noexcept nogil
    ctypedef struct xd_sums:
        double tone, tone_sq, a_excess, texture_sq
        long long red, npx
    void xd_region_sums(Py_ssize_t n, Py_ssize_t m, const uint8_t* mask, Py_ssize_t mask_stride,
                        const float* L, const float* A, const float* B, Py_ssize_t stride,
                        const int* lo, uint32_t* hist, const float* tone, const uint8_t* red,
                        Py_ssize_t red_stride, const float* aex, const float* tex,
                        xd_sums* out) noexcept nogil
    void xd_area_downscale(const uint8_t* src, Py_ssize_t stride, Py_ssize_t h, Py_ssize_t w,
                           Py_ssize_t c, int k, uint16_t* acc, uint8_t* dst) noexcept nogil

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


cdef const float* _plane(object plane, Py_ssize_t H, Py_ssize_t W, Py_ssize_t y0, Py_ssize_t x0) except? NULL:
    """Pointer to ``plane[y0, x0]`` of an optional (H, W) float32 plane; NULL for None."""
    if plane is None:
        return NULL
    cdef const float[:, ::1] v = plane
    if v.shape[0] != H or v.shape[1] != W:
        raise ValueError("planes of different shapes")
    return &v[y0, x0]


def region_sums(
    const uint8_t[:, :] mask,
    Py_ssize_t y0,
    Py_ssize_t x0,
    const float[:, ::1] L,
    const float[:, ::1] a,
    const float[:, ::1] b,
    lo,
    tone,
    red,
    a_excess,
    texture,
):
    """The additive statistics of one region in one pass over its box.

    What ``metrics._SharedMaps._sums`` otherwise gathers with one OpenCV call each: histograms
    of the quantised L*, a*, b* (``calcHist``), the sum and the sum of squares of the tone
    residual (``meanStdDev``), the red pixel count, the sum of the a* excess (``mean``) and of
    the squared texture (``norm``); the sums in double precision, as OpenCV's.

    Parameters
    ----------
    mask : ndarray
        (h, w) uint8 (a bool mask viewed as uint8), the region inside its box; rows may be a
        strided view but each row contiguous.
    y0, x0 : int
        The box's first pixel in the planes.
    L, a, b : ndarray
        Float32 planes of the crop, C-contiguous, all of one shape.
    lo : tuple of int or None
        Per channel, the offset of q = rint(100·v) − lo (q must fit 0..65535 on the mask);
        None: no histograms.
    tone, a_excess, texture : ndarray or None
        Float32 planes of the crop's shape (the tone residual, the a* excess, the band-passed
        L*); None: that sum is 0.
    red : ndarray or None
        uint8 plane (a bool viewed as uint8) of the crop's shape; None: no red pixels.

    Returns
    -------
    tuple
        ``(hist, npx, tone, tone_sq, red, a_excess, texture_sq)``: ``hist`` a (3, 65536) uint32
        array or None.
    """
    cdef Py_ssize_t n = mask.shape[0], m = mask.shape[1]
    cdef Py_ssize_t H = L.shape[0], W = L.shape[1]
    if not (a.shape[0] == b.shape[0] == H and a.shape[1] == b.shape[1] == W):
        raise ValueError("planes of different shapes")
    if not (0 <= y0 and y0 + n <= H and 0 <= x0 and x0 + m <= W):
        raise ValueError("region box outside the planes")
    if m > 1 and mask.strides[1] != 1:
        raise ValueError("mask rows must be contiguous")
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
    cdef uint32_t[:, ::1] hist_v
    hist = None
    if lo is not None:
        lo3[0], lo3[1], lo3[2] = lo
        hist = np.zeros((3, 65536), np.uint32)
        hist_v = hist
        hist_p = &hist_v[0, 0]
    cdef xd_sums out
    out.npx = 0
    if n == 0 or m == 0:
        return hist, 0, 0.0, 0.0, 0, 0.0, 0.0
    with nogil:
        xd_region_sums(n, m, &mask[0, 0], mask.strides[0], &L[y0, x0], &a[y0, x0], &b[y0, x0], W,
                       lo3, hist_p, tone_p, red_p, W, aex_p, tex_p, &out)
    return hist, out.npx, out.tone, out.tone_sq, out.red, out.a_excess, out.texture_sq


ctypedef fused sample:
    uint8_t
    uint16_t


def clipped_count(const sample[:, :, :] rgb, mask, int full):
    """Pixels of an RGB image whose brightest channel is at 0 or at ``full``, in one pass.

    What ``quality.clipped_pct`` otherwise makes of ``cv2.split``, two ``cv2.max``, ``inRange``
    and ``countNonZero``: a channel at full scale, or every channel at zero.

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
        m = mask
        if m.shape[0] != h or m.shape[1] != w or (w > 1 and m.strides[1] != 1):
            raise ValueError("mask must be (H, W) with contiguous rows")
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
