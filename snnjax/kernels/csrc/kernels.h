// The kernels' templates: included twice by neurons.cc, once for the baseline instruction set and
// once for AVX2 (chosen at run time), each time inside its own namespace. No #include here: the
// headers come first, in neurons.cc; Dims and Args are neurons.cc's.

// ---------------------------------------------------------------------------------------------
// exp, vectorisable: the compiler cannot vectorise libm's expf without -ffast-math. Range
// reduction x = n ln2 + r (|r| <= ln2 / 2, Cody-Waite split of ln2), degree-6 polynomial for
// e^r, 2^n by exponent bits. Relative error < 2 ulp on [-87, 88]; below -87 it returns 0, above
// 88 +inf; NaN propagates.
inline float vexp(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447504f;
  float xc = std::min(std::max(x, lo), hi);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to nearest
  float n = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float out = e * scale;
  out = x < lo ? 0.0f : out;
  out = x > hi ? INFINITY : out;
  return x != x ? x : out;
}

inline float sigmoid(float z) { return 1.0f / (1.0f + vexp(-z)); }

// ---------------------------------------------------------------------------------------------
// Surrogate derivatives g(v; w), as snnjax/surrogate.py defines them (the ids are that file's
// registry order; native.py maps them).
enum Surrogate : int {
  kRectangle = 0,
  kTriangle,
  kSigmoid,
  kAtan,
  kSuperspike,
  kGaussian,
  kErf,
  kPiecewiseQuadratic,
  kStraightThrough,
  kNumSurrogates
};

template <int S>
inline float surrogate_grad(float v, float w) {
  float a = std::fabs(v);
  if constexpr (S == kRectangle) {
    return a < w / 2.0f ? 1.0f / w : 0.0f;
  } else if constexpr (S == kTriangle) {
    return std::max(0.0f, 1.0f - a / w) / w;
  } else if constexpr (S == kSigmoid) {
    float s = sigmoid(w * v);
    return w * s * (1.0f - s);
  } else if constexpr (S == kAtan) {
    float z = 1.5707963267948966f * w * v;
    return (w / 2.0f) / (1.0f + z * z);
  } else if constexpr (S == kSuperspike) {
    float d = w * a + 1.0f;
    return 1.0f / (d * d);
  } else if constexpr (S == kGaussian) {
    return vexp(-(v * v) / (2.0f * w * w)) / (w * 2.5066282746310002f);
  } else if constexpr (S == kErf) {
    float z = w * v;
    return w / 1.7724538509055159f * vexp(-(z * z));
  } else if constexpr (S == kPiecewiseQuadratic) {
    return a < 1.0f / w ? w - w * w * a : 0.0f;
  } else {
    return 1.0f;
  }
}

inline float heaviside(float v) { return v >= 0.0f ? 1.0f : 0.0f; }

// s * a for a spike s in {0, 1}, as XLA evaluates it (a select: 0 where s = 0 even for a = ±inf or
// NaN), so that non-finite inputs propagate as they do through lax.scan.
inline float gate(float s, float a) { return s != 0.0f ? a : 0.0f; }

// ---------------------------------------------------------------------------------------------
// Neurons. Each is a struct with NS state arrays, NP parameter arrays (per element), its options,
// and two element functions: step (state in place, returns the spike) and vjp (given the state
// entering the step, x, the cotangents of the state leaving it (in place: replaced by those of
// the state entering it) and of the spike: returns dx and accumulates dp).

// LIF (snnjax/neurons/lif.py): params lam (λ = 1 - 1/τ, computed in Python), v_th, v_reset, w
// (surrogate width). U = λ m + x; S = H(U - V_th); m = reset(U, S).
// The options are template parameters (OPT = reset + 4 * detach), so that the element loops have
// no branches and vectorise.
enum Reset : int { kSoft = 0, kHard = 1, kNone = 2 };

template <int OPT>
struct LIF {
  static constexpr int NS = 1, NP = 4, NOPT = 8;
  static constexpr int reset = OPT & 3;
  static constexpr bool detach = (OPT & 4) != 0;
  static constexpr bool valid = reset != 3;  // the option ids that name something (instantiated)

  static inline float step(const float* p, float* st, float x) {
    float u = p[0] * st[0] + x;
    float s = heaviside(u - p[1]);
    float m = u;
    if constexpr (reset == kSoft) m = u - s * p[1];
    if constexpr (reset == kHard) m = u * (1.0f - s) + s * p[2];
    st[0] = m;
    return s;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, float* dst, float dy, float* dp) {
    float lam = p[0], vth = p[1], vr = p[2];
    float u = lam * st[0] + x;
    float v = u - vth;
    float s = heaviside(v);
    float dm = dst[0];
    float du = dm, ds = dy;
    if constexpr (reset == kSoft) {
      if constexpr (!detach) ds += -dm * vth;
      dp[1] += -dm * s;
    } else if constexpr (reset == kHard) {
      du = dm * (1.0f - s);
      if constexpr (!detach) ds += dm * (vr - u);
      dp[2] += dm * s;
    }
    float dv = ds * surrogate_grad<S>(v, p[3]);
    du += dv;
    dp[1] -= dv;
    dp[0] += du * st[0];
    dst[0] = du * lam;
    return du;
  }
};

// ILIF (snnjax/neurons/ilif.py): state m, Ii, Iu; params lam, v_th, λ_U, λ_I, w. The seven steps:
// I = x - relu(Ii); U = λ m + I; S = H(U - V_th); m̄ = U - S V_th; Iu = λ_U (Iu + S m̄);
// m = m̄ - S sigmoid(Iu); Ii = λ_I (Ii + S c), c = x or I.
// OPT = use_mpiu + 2 * use_ciu + 4 * ciu_input.
template <int OPT>
struct ILIF {
  static constexpr int NS = 3, NP = 5, NOPT = 8;
  static constexpr bool use_mpiu = (OPT & 1) != 0, use_ciu = (OPT & 2) != 0, ciu_input = (OPT & 4) != 0;
  static constexpr bool valid = use_ciu || !ciu_input;  // the CIU source matters only with the CIU

  static inline float step(const float* p, float* st, float x) {
    float ii = st[1], iu = st[2];
    float cur = use_ciu ? x - (ii >= 0.0f ? ii : 0.0f) : x;
    float u = p[0] * st[0] + cur;
    float s = heaviside(u - p[1]);
    float mb = u - s * p[1];
    float m = mb;
    if constexpr (use_mpiu) {
      iu = p[2] * (iu + gate(s, mb));
      m = mb - gate(s, sigmoid(iu));
    }
    if constexpr (use_ciu) ii = p[3] * (ii + gate(s, ciu_input ? x : cur));
    st[0] = m;
    st[1] = ii;
    st[2] = iu;
    return s;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, float* dst, float dy, float* dp) {
    float lam = p[0], vth = p[1], lu = p[2], li = p[3];
    float m0 = st[0], ii = st[1], iu = st[2];
    // forward again
    float cur = use_ciu ? x - (ii >= 0.0f ? ii : 0.0f) : x;
    float u = lam * m0 + cur;
    float v = u - vth;
    float s = heaviside(v);
    float mb = u - s * vth;
    // backward
    float dm = dst[0], dii = dst[1], diu = dst[2];
    float ds = dy, dsrc = 0.0f, dii_in = dii, diu_in = diu;
    if constexpr (use_ciu) {
      float src = ciu_input ? x : cur;
      dp[3] += dii * (ii + gate(s, src));
      dii_in = dii * li;
      ds += dii_in * src;
      dsrc = dii_in * s;
    }
    float dmb = dm;
    if constexpr (use_mpiu) {
      float iu1 = lu * (iu + gate(s, mb));
      float sg = sigmoid(iu1);
      ds += -dm * sg;
      float dz = diu + (-dm * s) * (sg * (1.0f - sg));
      dp[2] += dz * (iu + gate(s, mb));
      float dzl = dz * lu;
      diu_in = dzl;
      ds += dzl * mb;
      dmb += dzl * s;
    }
    float du = dmb;
    ds += -dmb * vth;
    dp[1] += -dmb * s;
    float dv = ds * surrogate_grad<S>(v, p[4]);
    du += dv;
    dp[1] -= dv;
    dp[0] += du * m0;
    float dcur = du;
    float dx = 0.0f;
    if constexpr (use_ciu) {
      if constexpr (ciu_input) {
        dx += dsrc;
      } else {
        dcur += dsrc;
      }
      dii_in += ii >= 0.0f ? -dcur : 0.0f;
    }
    dx += dcur;
    dst[0] = du * lam;
    dst[1] = dii_in;
    dst[2] = diu_in;
    return dx;
  }
};

// ---------------------------------------------------------------------------------------------
// Blocks and threads.

constexpr int64_t kFwdBlock = 1024;
constexpr int64_t kBufferFloats = 256 * 1024;  // the backward's per-block buffer: 1 MiB (in L2)

// fn(item, scratch) for every item, over up to hardware_concurrency threads (one where the work
// is small); scratch is one float vector per thread, reused across its items.
template <class F>
void parallel_for(int64_t n_items, int64_t work_per_item, F&& fn) {
  int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  int64_t by_work = std::max<int64_t>(1, n_items * work_per_item / (1 << 16));
  int64_t n_threads = std::min({hw, n_items, by_work});
  auto worker = [&](int64_t k) {
    std::vector<float> scratch;
    for (int64_t i = k; i < n_items; i += n_threads) fn(i, scratch);
  };
  std::vector<std::thread> pool;
  pool.reserve(n_threads - 1);
  for (int64_t k = 1; k < n_threads; ++k) pool.emplace_back(worker, k);
  worker(0);
  for (auto& th : pool) th.join();
}

// A block's initial states into st[NS][bk] and parameters into p[NP][bk] (a scalar repeated).
template <int NS, int NP>
void load_block(const Args<NS, NP>& a, int64_t v, int64_t off, int64_t n, int64_t bk, float* st, float* p) {
  for (int k = 0; k < NS; ++k) std::memcpy(st + k * bk, a.st0[k] + off, n * sizeof(float));
  for (int k = 0; k < NP; ++k) {
    if (a.scalar[k]) {
      std::fill(p + k * bk, p + k * bk + n, a.prm[k][v]);
    } else {
      std::memcpy(p + k * bk, a.prm[k] + off, n * sizeof(float));
    }
  }
}

template <class N>
void forward(Dims d, const Args<N::NS, N::NP>& a) {
  constexpr int NS = N::NS, NP = N::NP;
  constexpr int64_t bk = kFwdBlock;
  int64_t nb = (d.e + bk - 1) / bk;
  parallel_for(d.v * nb, d.t * std::min(d.e, bk), [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    scratch.resize((NS + NP) * bk);
    float* __restrict st = scratch.data();
    float* __restrict p = st + NS * bk;
    load_block(a, v, off, n, bk, st, p);
    const float* x = a.xs + v * d.t * d.e + e0;
    float* y = a.ys + v * d.t * d.e + e0;
    for (int64_t t = 0; t < d.t; ++t) {
      const float* __restrict xt = x + t * d.e;
      float* __restrict yt = y + t * d.e;
#pragma GCC ivdep
      for (int64_t i = 0; i < n; ++i) {
        float s[NS], q[NP];
        for (int k = 0; k < NS; ++k) s[k] = st[k * bk + i];
        for (int k = 0; k < NP; ++k) q[k] = p[k * bk + i];
        yt[i] = N::step(q, s, xt[i]);
        for (int k = 0; k < NS; ++k) st[k * bk + i] = s[k];
      }
    }
    for (int k = 0; k < NS; ++k) std::memcpy(a.stT[k] + off, st + k * bk, n * sizeof(float));
  });
}

template <class N, int S>
void backward(Dims d, const Args<N::NS, N::NP>& a) {
  constexpr int NS = N::NS, NP = N::NP;
  int64_t bk = kBufferFloats / (NS * std::max<int64_t>(d.t, 1));
  bk = std::max<int64_t>(8, std::min<int64_t>(kFwdBlock, bk - bk % 8));
  int64_t nb = (d.e + bk - 1) / bk;
  std::vector<double> partial(d.v * nb * NP, 0.0);  // per block: the sums for scalar parameters
  parallel_for(d.v * nb, d.t * std::min(d.e, bk), [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    scratch.assign((d.t * NS + 2 * NP + 2 * NS) * bk, 0.0f);
    float* __restrict saved = scratch.data();  // the state entering each step, [T][NS][bk]
    float* __restrict p = saved + d.t * NS * bk;
    float* __restrict dp = p + NP * bk;
    float* __restrict st = dp + NP * bk;
    float* __restrict ds = st + NS * bk;
    load_block(a, v, off, n, bk, st, p);
    const float* x = a.xs + v * d.t * d.e + e0;
    for (int64_t t = 0; t < d.t; ++t) {
      const float* __restrict xt = x + t * d.e;
      float* __restrict sv = saved + t * NS * bk;
#pragma GCC ivdep
      for (int64_t i = 0; i < n; ++i) {
        float s[NS], q[NP];
        for (int k = 0; k < NS; ++k) s[k] = sv[k * bk + i] = st[k * bk + i];
        for (int k = 0; k < NP; ++k) q[k] = p[k * bk + i];
        N::step(q, s, xt[i]);
        for (int k = 0; k < NS; ++k) st[k * bk + i] = s[k];
      }
    }
    for (int k = 0; k < NS; ++k) std::memcpy(ds + k * bk, a.dstT[k] + off, n * sizeof(float));
    const float* dy = a.dys + v * d.t * d.e + e0;
    float* dx = a.dxs + v * d.t * d.e + e0;
    for (int64_t t = d.t - 1; t >= 0; --t) {
      const float* __restrict xt = x + t * d.e;
      const float* __restrict dyt = dy + t * d.e;
      float* __restrict dxt = dx + t * d.e;
      const float* __restrict sv = saved + t * NS * bk;
#pragma GCC ivdep
      for (int64_t i = 0; i < n; ++i) {
        float s[NS], q[NP], g[NS], acc[NP];
        for (int k = 0; k < NS; ++k) s[k] = sv[k * bk + i];
        for (int k = 0; k < NS; ++k) g[k] = ds[k * bk + i];
        for (int k = 0; k < NP; ++k) q[k] = p[k * bk + i];
        for (int k = 0; k < NP; ++k) acc[k] = dp[k * bk + i];
        dxt[i] = N::template vjp<S>(q, s, xt[i], g, dyt[i], acc);
        for (int k = 0; k < NS; ++k) ds[k * bk + i] = g[k];
        for (int k = 0; k < NP; ++k) dp[k * bk + i] = acc[k];
      }
    }
    for (int k = 0; k < NS; ++k) std::memcpy(a.dst0[k] + off, ds + k * bk, n * sizeof(float));
    for (int k = 0; k < NP; ++k) {
      if (a.scalar[k]) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += dp[k * bk + i];
        partial[item * NP + k] = sum;
      } else {
        std::memcpy(a.dprm[k] + off, dp + k * bk, n * sizeof(float));
      }
    }
  });
  for (int k = 0; k < NP; ++k) {
    if (!a.scalar[k]) continue;
    for (int64_t v = 0; v < d.v; ++v) {
      double sum = 0.0;
      for (int64_t b = 0; b < nb; ++b) sum += partial[(v * nb + b) * NP + k];
      a.dprm[k][v] = static_cast<float>(sum);
    }
  }
}

// Runtime (option, surrogate) -> the instantiation for it.
template <template <int> class N, int OPT = 0>
void forward_dispatch(int opt, Dims d, const Args<N<0>::NS, N<0>::NP>& a) {
  if constexpr (OPT < N<0>::NOPT) {
    if constexpr (N<OPT>::valid) {
      if (opt == OPT) return forward<N<OPT>>(d, a);
    }
    return forward_dispatch<N, OPT + 1>(opt, d, a);
  }
}

template <template <int> class N, int OPT = 0, int S = 0>
void backward_dispatch(int opt, int sur, Dims d, const Args<N<0>::NS, N<0>::NP>& a) {
  if constexpr (OPT < N<0>::NOPT) {
    if constexpr (S < kNumSurrogates) {
      if constexpr (N<OPT>::valid) {
        if (opt == OPT && sur == S) return backward<N<OPT>, S>(d, a);
      }
      return backward_dispatch<N, OPT, S + 1>(opt, sur, d, a);
    } else {
      return backward_dispatch<N, OPT + 1, 0>(opt, sur, d, a);
    }
  }
}
