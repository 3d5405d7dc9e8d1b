// The kernels' templates: included three times by neurons.cc, for the baseline instruction set,
// AVX2 and AVX-512 (chosen at run time), each time inside its own namespace. No #include here: the
// headers come first, in neurons.cc; Dims and Args are neurons.cc's.

// ---------------------------------------------------------------------------------------------
// a * b + c: one fused multiply-add where the instruction set has FMA (kFma, set by neurons.cc per
// instantiation), else rounded twice. Used inside exp only: the neurons' equations round as XLA's
// CPU code does (no contraction, -ffp-contract=off).
inline float madd(float a, float b, float c) {
  if constexpr (kFma) {
    return __builtin_fmaf(a, b, c);
  } else {
    return a * b + c;
  }
}

// exp, vectorisable: the compiler cannot vectorise libm's expf without -ffast-math. Range
// reduction x = n ln2 + r (|r| <= ln2 / 2, Cody-Waite split of ln2), degree-6 polynomial for
// e^r, 2^n by exponent bits. Relative error < 2 ulp on [-87, 88]; below -87 it returns 0, above
// 88.7 +inf (2^128's bits are inf's: the upper clamp leaves n = 128 there); NaN propagates (through
// the clamp and the polynomial, without a select). ZERO_BELOW = false drops the select that makes
// it 0 below -87.3 (e^-87.3 ≈ 1.2e-38 there instead): for the sigmoid, where 1 + e^x rounds
// both to 1.
template <bool ZERO_BELOW = true>
inline float vexp(float x) {
  const float hi = 89.0f, lo = -87.3365447504f;
  float xc = std::min(std::max(x, lo), hi);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer, n, in the low bits
  float t = madd(xc, 1.44269504088896341f, magic);
  float n = t - magic;
  float r = madd(n, -0.693359375f, xc);
  r = madd(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = madd(p, r, 1.3981999507e-3f);
  p = madd(p, r, 8.3334519073e-3f);
  p = madd(p, r, 4.1665795894e-2f);
  p = madd(p, r, 1.6666665459e-1f);
  p = madd(p, r, 5.0000001201e-1f);
  float e = madd(p, r * r, r) + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;  // t's bits minus magic's: n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float out = e * scale;
  if constexpr (ZERO_BELOW) return x < lo ? 0.0f : out;
  return out;
}

// The sigmoid 1 / (1 + e^-z), with the division (correctly rounded). Three Newton steps
// y += y (1 - d y) from an exponent-bits guess instead (6 fused multiply-adds, within 1 ulp) were
// slower on an AMD Zen 4, in the AVX-512 and the AVX2 build (CLIF fwd+bwd at (6, 128, 8192) 25.1
// against 19.5 ms, POLARA at (50, 64, 2048) 33.0 against 28.0 ms; benchmarks/RESULTS.md): the
// divider works beside the multiply-add units, which the rest of a step keeps busy.
inline float sigmoid(float z) { return 1.0f / (1.0f + vexp<false>(-z)); }

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
  static constexpr int NS = 1, NP = 4, NOPT = 8, NX = 0;
  static constexpr int reset = OPT & 3;
  static constexpr bool detach = (OPT & 4) != 0;
  static constexpr bool valid = reset != 3;  // the option ids that name something (instantiated)
  static constexpr bool uses_surrogate = true;

  static inline float step(const float* p, float* st, float x, float* = nullptr) {
    float u = p[0] * st[0] + x;
    float s = heaviside(u - p[1]);
    float m = u;
    if constexpr (reset == kSoft) m = u - s * p[1];
    if constexpr (reset == kHard) m = u * (1.0f - s) + s * p[2];
    st[0] = m;
    return s;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, const float*, float* dst, float dy, float* dp) {
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
  static constexpr int NX = use_mpiu ? 1 : 0;  // saved for the vjp: sigmoid(Iu)
  static constexpr bool valid = use_ciu || !ciu_input;  // the CIU source matters only with the CIU
  static constexpr bool uses_surrogate = true;

  static inline float step(const float* p, float* st, float x, float* sv = nullptr) {
    float ii = st[1], iu = st[2];
    float cur = use_ciu ? x - (ii >= 0.0f ? ii : 0.0f) : x;
    float u = p[0] * st[0] + cur;
    float s = heaviside(u - p[1]);
    float mb = u - s * p[1];
    float m = mb;
    if constexpr (use_mpiu) {
      iu = p[2] * (iu + gate(s, mb));
      float sg = sigmoid(iu);
      if (sv) sv[0] = sg;
      m = mb - gate(s, sg);
    }
    if constexpr (use_ciu) ii = p[3] * (ii + gate(s, ciu_input ? x : cur));
    st[0] = m;
    st[1] = ii;
    st[2] = iu;
    return s;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, const float* sv, float* dst, float dy,
                          float* dp) {
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
      float sg = sv[0];
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

// CLIF (snnjax/neurons/clif.py): state m, M; params lam (λ = 1 - 1/τ), v_th, 1/τ, w (both
// computed in Python, which also takes the gradient of 1/τ on to τ: no division per step here).
// U = λ m + x; M = M sigmoid(U / τ); S = H(U - V_th); M = M + S; m = U - S (V_th + sigmoid(M)).
// No options (nothing is detached).
template <int OPT>
struct CLIF {
  static constexpr int NS = 2, NP = 4, NOPT = 1, NX = 2;  // saved for the vjp: the two sigmoids
  static constexpr bool valid = true;
  static constexpr bool uses_surrogate = true;

  static inline float step(const float* p, float* st, float x, float* sv = nullptr) {
    float u = p[0] * st[0] + x;
    float g1 = sigmoid(u * p[2]);
    float c = st[1] * g1;
    float s = heaviside(u - p[1]);
    c = c + s;
    float g2 = sigmoid(c);
    st[0] = u - s * (p[1] + g2);
    st[1] = c;
    if (sv) {
      sv[0] = g1;
      sv[1] = g2;
    }
    return s;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, const float* sv, float* dst, float dy,
                          float* dp) {
    float lam = p[0], vth = p[1], inv_tau = p[2];
    float m0 = st[0], c0 = st[1];
    // forward again, but for the saved sigmoids
    float u = lam * m0 + x;
    float g1 = sv[0];
    float v = u - vth;
    float s = heaviside(v);
    float g2 = sv[1];
    // backward
    float dm = dst[0], dc = dst[1];
    float du = dm;
    float ds = dy - dm * (vth + g2);
    float dq = -dm * s;  // cotangent of V_th + sigmoid(M)
    dp[1] += dq;
    float dc2 = dc + dq * (g2 * (1.0f - g2));
    ds += dc2;
    float dv = ds * surrogate_grad<S>(v, p[3]);
    du += dv;
    dp[1] -= dv;
    float dz = (dc2 * c0) * (g1 * (1.0f - g1));
    du += dz * inv_tau;
    dp[2] += dz * u;
    dp[0] += du * m0;
    dst[0] = du * lam;
    dst[1] = dc2 * g1;
    return du;
  }
};

// LI (snnjax/neurons/li.py), the non-spiking leaky-integrator readout: state i, v; params α, β
// (exp(-1/τ), computed in Python). synaptic (OPT = 1): i = α i + x, v = β v + i_{t-1}; else
// v = β v + x (i unchanged). The output is v. Linear: its vjp takes no surrogate.
template <int OPT>
struct LI {
  static constexpr int NS = 2, NP = 2, NOPT = 2, NX = 0;
  static constexpr bool synaptic = OPT == 1;
  static constexpr bool valid = true;
  static constexpr bool uses_surrogate = false;

  static inline float step(const float* p, float* st, float x, float* = nullptr) {
    float i = st[0], v;
    if constexpr (synaptic) {
      v = p[1] * st[1] + st[0];
      i = p[0] * st[0] + x;
    } else {
      v = p[1] * st[1] + x;
    }
    st[0] = i;
    st[1] = v;
    return v;
  }

  template <int S>
  static inline float vjp(const float* p, const float* st, float x, const float*, float* dst, float dy, float* dp) {
    float dv = dst[1] + dy;  // v is the output and the next state
    float di = dst[0];
    dp[1] += dv * st[1];
    float dx;
    if constexpr (synaptic) {
      dp[0] += di * st[0];
      dx = di;
      di = di * p[0] + dv;
    } else {
      dx = dv;
    }
    dst[0] = di;
    dst[1] = dv * p[1];
    return dx;
  }
};

// ---------------------------------------------------------------------------------------------
// Blocks and threads.

constexpr int64_t kFwdBlock = 1024;

// The cotangents a backward call computes beyond the input's (Args::grads, PolaraArgs::grads, set
// by native.py from what JAX differentiates: custom_vjp's symbolic zeros): the parameters',
// POLARA's window kernels', the initial state's (only POLARA's history acts on it: the other
// initial-state cotangents are always written). Outputs not asked for may be left unwritten
// (native.py returns no cotangent for them). The parameters' is a template switch of the generic
// and POLARA backwards: without it the reverse pass neither loads nor stores the per-element
// accumulators (a LIF step's vjp does as many memory operations for them as for everything else).
// kZeroFinal: the final state's cotangents are zero (JAX's symbolic zeros: the final state is not
// used) and not passed (one-float placeholders): not read. POLARA's final history is as large as
// its sequence at T = K.
enum GradBits : int32_t { kGradParams = 1, kGradWindows = 2, kGradInitial = 4, kZeroFinal = 8 };

// row j of a final state's cotangent into dst ([n] floats from src + off), or zeros (kZeroFinal)
inline void final_cotangent(int32_t grads, const float* src, int64_t off, int64_t n, float* dst) {
  if (grads & kZeroFinal) {
    std::fill(dst, dst + n, 0.0f);
  } else {
    std::memcpy(dst, src + off, n * sizeof(float));
  }
}

// The rows of the sequences kAhead time steps ahead (n floats each, one row every E floats) are
// prefetched into L2 while a step is computed (group by group: by_groups below): the time loop
// reads one short row per step, at a stride the hardware prefetchers do not follow, and without
// this it waits on those loads (perf annotate: half the LIF backward's samples on two loads;
// 25-30 % faster with it, benchmarks/RESULTS.md).
constexpr int64_t kAhead = 2;

template <class... P>
inline void prefetch_rows(int64_t n, P*... rows) {
  // read-only rows with the read hint, rows the step writes (y, dx) with the write hint
  for (int64_t i = 0; i < n; i += 16) (__builtin_prefetch(rows + i, std::is_const_v<P> ? 0 : 1, 2), ...);
}
// body(i0, i1) over [0, n) in groups of kGroup elements, each group's share of the given rows
// (kAhead steps away) prefetched just before it where `ahead`: spread over the step, the
// prefetches leave room in the core's fill buffers; all of a row's at once (128 lines for two
// rows) stalled on them (CLIF's forward at (6, 128, 8192): 15 % of its samples on the prefetch
// instructions, perf annotate).
constexpr int64_t kGroup = 128;

template <class F, class... P>
inline void by_groups(int64_t n, bool ahead, F&& body, P*... rows) {
  for (int64_t i0 = 0; i0 < n; i0 += kGroup) {
    int64_t i1 = std::min(n, i0 + kGroup);
    if (ahead) prefetch_rows(i1 - i0, (rows + i0)...);
    body(i0, i1);
  }
}

constexpr int64_t kBufferFloats = 256 * 1024;  // the backward's per-block buffer: 1 MiB (in L2)

// The threads for `work` (element-steps): up to the pool's, one per 2^16.
inline int64_t threads_for(const Workers& workers, int64_t work) {
  return std::min(workers.size(), std::max<int64_t>(1, work / (1 << 16)));
}

// fn(item, scratch) for every item in [0, n_items), on the calling thread and up to
// threads_for - 1 tasks on the pool; scratch is one float vector per thread, reused across its
// items. The threads claim items from a shared counter, so a task the pool starts late (its
// workers busy elsewhere) finds nothing left and the caller never waits on a task that has not
// started: it waits only for items already being computed. Such a late task touches only the
// shared counters (kept alive by its own reference), never fn.
template <class F>
void parallel_for(const Workers& workers, int64_t n_items, int64_t work_per_item, F&& fn) {
  int64_t n_threads = std::min(n_items, threads_for(workers, n_items * work_per_item));
  if (n_threads <= 1) {
    std::vector<float> scratch;
    for (int64_t i = 0; i < n_items; ++i) fn(i, scratch);
    return;
  }
  struct Claims {
    std::atomic<int64_t> next{0}, done{0};
    std::mutex m;
    std::condition_variable all_done;
  };
  auto claims = std::make_shared<Claims>();
  auto work = [n_items, &fn](Claims& c) {
    std::vector<float> scratch;
    for (int64_t i = c.next.fetch_add(1); i < n_items; i = c.next.fetch_add(1)) {
      fn(i, scratch);
      if (c.done.fetch_add(1) + 1 == n_items) {
        std::lock_guard<std::mutex> lock(c.m);
        c.all_done.notify_all();
      }
    }
  };
  for (int64_t k = 1; k < n_threads; ++k) workers.schedule([claims, work] { work(*claims); });
  work(*claims);
  std::unique_lock<std::mutex> lock(claims->m);
  claims->all_done.wait(lock, [&] { return claims->done.load() == n_items; });
}

// Σ x[i] in double, over kLanes interleaved partial sums so that the loop vectorises (one running
// sum is a chain of dependent additions: perf put 7 % of POLARA's fwd+bwd at T = 6 on these sums).
inline double sum_f64(const float* __restrict x, int64_t n) {
  constexpr int kLanes = 16;
  double part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) part[l] += x[i + l];
  }
  double sum = 0.0;
  for (; i < n; ++i) sum += x[i];
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

// The n elements from off of a per-neuron array's row into dst, or where the array is given once per
// problem (`once`: a scalar parameter, Args::scalar; a uniform initial state, Args::uniform) its
// value number `one`, repeated.
inline void load_row(bool once, const float* src, int64_t one, int64_t off, int64_t n, float* dst) {
  if (once) {
    std::fill(dst, dst + n, src[one]);
  } else {
    std::memcpy(dst, src + off, n * sizeof(float));
  }
}

// A block's initial states into st[NS][bk] and parameters into p[NP][bk] (a scalar repeated).
template <int NS, int NP>
void load_block(const Args<NS, NP>& a, int64_t v, int64_t off, int64_t n, int64_t bk, float* st, float* p) {
  for (int k = 0; k < NS; ++k) load_row(a.uniform, a.st0[k], v, off, n, st + k * bk);
  for (int k = 0; k < NP; ++k) load_row(a.scalar[k], a.prm[k], v, off, n, p + k * bk);
}

template <class N, bool SP>
void forward(Dims d, const Args<N::NS, N::NP>& a) {
  constexpr int NS = N::NS, NP = N::NP;
  constexpr int64_t bk = kFwdBlock;
  int64_t nb = (d.e + bk - 1) / bk;
  parallel_for(a.workers, d.v * nb, d.t * std::min(d.e, bk), [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    scratch.resize((NS + NP) * bk);
    float* __restrict st = scratch.data();
    float* __restrict p = st + NS * bk;
    load_block(a, v, off, n, bk, st, p);
    float pv[NP];  // SP: the parameters' values (else unused)
    for (int k = 0; k < NP; ++k) pv[k] = a.prm[k][SP ? v : 0];
    const float* x = a.xs + v * d.t * d.e + e0;
    float* y = a.ys + v * d.t * d.e + e0;
    for (int64_t t = 0; t < d.t; ++t) {
      const float* __restrict xt = x + t * d.e;
      float* __restrict yt = y + t * d.e;
      const int64_t ta = std::min(t + kAhead, d.t - 1);
      by_groups(
          n, t + kAhead < d.t,
          [&](int64_t i0, int64_t i1) {
#pragma GCC ivdep
            for (int64_t i = i0; i < i1; ++i) {
              float s[NS], q[NP];
              for (int k = 0; k < NS; ++k) s[k] = st[k * bk + i];
              for (int k = 0; k < NP; ++k) q[k] = SP ? pv[k] : p[k * bk + i];
              yt[i] = N::step(q, s, xt[i]);
              for (int k = 0; k < NS; ++k) st[k * bk + i] = s[k];
            }
          },
          x + ta * d.e, y + ta * d.e);
    }
    for (int k = 0; k < NS; ++k) std::memcpy(a.stT[k] + off, st + k * bk, n * sizeof(float));
  });
}

template <class N, int S, bool PG, bool SP>
void backward(Dims d, const Args<N::NS, N::NP>& a) {
  constexpr int NS = N::NS, NP = N::NP, NX = N::NX, NV = NS + NX, NXA = NX > 0 ? NX : 1;
  int64_t bk = kBufferFloats / (NV * std::max<int64_t>(d.t, 1));
  bk = std::max<int64_t>(8, std::min<int64_t>(kFwdBlock, bk - bk % 8));
  int64_t nb = (d.e + bk - 1) / bk;
  std::vector<double> partial(d.v * nb * NP, 0.0);  // per block: the sums for scalar parameters
  parallel_for(a.workers, d.v * nb, d.t * std::min(d.e, bk), [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    scratch.resize((d.t * NV + 2 * NP + 2 * NS) * bk);  // not zeroed: only dp is read before written
    // per step the state entering it and the step's values the vjp would recompute: [T][NV][bk]
    float* __restrict saved = scratch.data();
    float* __restrict p = saved + d.t * NV * bk;
    float* __restrict dp = p + NP * bk;
    float* __restrict st = dp + NP * bk;
    float* __restrict ds = st + NS * bk;
    if constexpr (PG) std::fill(dp, dp + NP * bk, 0.0f);
    load_block(a, v, off, n, bk, st, p);
    float pv[NP];
    for (int k = 0; k < NP; ++k) pv[k] = a.prm[k][SP ? v : 0];
    const float* x = a.xs + v * d.t * d.e + e0;
    for (int64_t t = 0; t < d.t; ++t) {
      const float* __restrict xt = x + t * d.e;
      float* __restrict sv = saved + t * NV * bk;
      by_groups(
          n, t + kAhead < d.t,
          [&](int64_t i0, int64_t i1) {
#pragma GCC ivdep
            for (int64_t i = i0; i < i1; ++i) {
              float s[NS], q[NP], w[NXA];
              for (int k = 0; k < NS; ++k) s[k] = sv[k * bk + i] = st[k * bk + i];
              for (int k = 0; k < NP; ++k) q[k] = SP ? pv[k] : p[k * bk + i];
              N::step(q, s, xt[i], w);
              for (int k = 0; k < NS; ++k) st[k * bk + i] = s[k];
              for (int k = 0; k < NX; ++k) sv[(NS + k) * bk + i] = w[k];
            }
          },
          x + std::min(t + kAhead, d.t - 1) * d.e);
    }
    for (int k = 0; k < NS; ++k) final_cotangent(a.grads, a.dstT[k], off, n, ds + k * bk);
    const float* dy = a.dys + v * d.t * d.e + e0;
    float* dx = a.dxs + v * d.t * d.e + e0;
    for (int64_t t = d.t - 1; t >= 0; --t) {
      const float* __restrict xt = x + t * d.e;
      const float* __restrict dyt = dy + t * d.e;
      float* __restrict dxt = dx + t * d.e;
      const float* __restrict sv = saved + t * NV * bk;
      const int64_t ta = std::max<int64_t>(t - kAhead, 0);
      by_groups(
          n, t >= kAhead,
          [&](int64_t i0, int64_t i1) {
#pragma GCC ivdep
            for (int64_t i = i0; i < i1; ++i) {
              float s[NS], q[NP], g[NS], acc[NP], w[NXA];
              for (int k = 0; k < NS; ++k) s[k] = sv[k * bk + i];
              for (int k = 0; k < NX; ++k) w[k] = sv[(NS + k) * bk + i];
              for (int k = 0; k < NS; ++k) g[k] = ds[k * bk + i];
              for (int k = 0; k < NP; ++k) q[k] = SP ? pv[k] : p[k * bk + i];
              for (int k = 0; k < NP; ++k) acc[k] = PG ? dp[k * bk + i] : 0.0f;
              dxt[i] = N::template vjp<S>(q, s, xt[i], w, g, dyt[i], acc);
              for (int k = 0; k < NS; ++k) ds[k * bk + i] = g[k];
              if constexpr (PG) {
                for (int k = 0; k < NP; ++k) dp[k * bk + i] = acc[k];
              }
            }
          },
          x + ta * d.e, dy + ta * d.e, dx + ta * d.e);
    }
    // (a uniform initial state is a constant of the call unless JAX asks for its cotangent, which
    // is then written per element, [V, E], and summed by native.py)
    for (int k = 0; k < NS && (!a.uniform || (a.grads & kGradInitial)); ++k) {
      std::memcpy(a.dst0[k] + off, ds + k * bk, n * sizeof(float));
    }
    if constexpr (!PG) return;
    for (int k = 0; k < NP; ++k) {
      if (a.scalar[k]) {
        partial[item * NP + k] = sum_f64(dp + k * bk, n);
      } else {
        std::memcpy(a.dprm[k] + off, dp + k * bk, n * sizeof(float));
      }
    }
  });
  for (int k = 0; k < NP; ++k) {
    if (!PG || !a.scalar[k]) continue;
    for (int64_t v = 0; v < d.v; ++v) {
      double sum = 0.0;
      for (int64_t b = 0; b < nb; ++b) sum += partial[(v * nb + b) * NP + k];
      a.dprm[k][v] = static_cast<float>(sum);
    }
  }
}

// Whether every parameter is given once per problem ([V, 1]): the common case, where the element
// loops take them from registers (SP) instead of loading NP expanded rows per element and step.
// Those rows (4 KiB each at kFwdBlock) shared the 32 KiB L1 with the state, x and y rows: CLIF's
// fwd+bwd at (6, 128, 8192) 18.4 -> 13.5 ms, ILIF's at (50, 64, 2048) 18.1 -> 10.8 ms on a Zen 4.
// (A: Args or PolaraArgs, np its parameters' count)
template <class A>
bool all_scalar(const A& a, int np) {
  for (int k = 0; k < np; ++k) {
    if (!a.scalar[k]) return false;
  }
  return true;
}

// Runtime (option, surrogate) -> the instantiation for it.
template <template <int> class N, int OPT = 0>
void forward_dispatch(int opt, Dims d, const Args<N<0>::NS, N<0>::NP>& a) {
  if constexpr (OPT < N<0>::NOPT) {
    if constexpr (N<OPT>::valid) {
      if (opt == OPT) {
        if (all_scalar(a, N<OPT>::NP)) return forward<N<OPT>, true>(d, a);
        return forward<N<OPT>, false>(d, a);
      }
    }
    return forward_dispatch<N, OPT + 1>(opt, d, a);
  }
}

template <template <int> class N, int OPT = 0, int S = 0>
void backward_dispatch(int opt, int sur, Dims d, const Args<N<0>::NS, N<0>::NP>& a) {
  if constexpr (OPT < N<0>::NOPT) {
    // a neuron without a surrogate (LI) is instantiated for surrogate id 0 only
    if constexpr (S < (N<OPT>::uses_surrogate ? kNumSurrogates : 1)) {
      if constexpr (N<OPT>::valid) {
        if (opt == OPT && sur == S) {
          const bool pg = (a.grads & kGradParams) != 0, sp = all_scalar(a, N<OPT>::NP);
          if (pg && sp) return backward<N<OPT>, S, true, true>(d, a);
          if (pg) return backward<N<OPT>, S, true, false>(d, a);
          if (sp) return backward<N<OPT>, S, false, true>(d, a);
          return backward<N<OPT>, S, false, false>(d, a);
        }
      }
      return backward_dispatch<N, OPT, S + 1>(opt, sur, d, a);
    } else {
      return backward_dispatch<N, OPT + 1, 0>(opt, sur, d, a);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// POLARA (snnjax/neurons/polara.py), leak "polar", activation "shaped", decay "last", gated
// windows, no threshold recovery. State u, ϑ and the last K outputs; per-element parameters L
// (leak), B, β, γ, o_max, α_mask (PolaraArgs::prm, in that order) and the window kernels h (i)
// and Θ (i), i = 1..K (PolaraArgs::win; the refractory / threshold ablations come as zero
// kernels). One step:
//   ud = L u; us = ud + x (amplify "before_input": the input is added after the amplification)
//   ua = us (1 + B e^{β δ}) where δ = us - ϑ <= 0, else us
//   Δ = ua - ϑ; s = sigmoid(ua O(Δ)) where Δ >= 0, else 0, O(Δ) = min(Δ (1 + Δ e^{-γΔ}), o_max)
//   (output "binary": s + (1[Δ >= 0] - s), the gradient straight through to s)
//   u = ua (1 + Σ_i h(i) ŝ_i); ϑ = ϑ (1 + Σ_i Θ(i) ŝ_i), ŝ = (s, ŝ_1, …, ŝ_{K-1}).
// The gradient of s is the grad mode's: "exact" (autodiff of the above), "eq13" or "mask".
// The history is not shifted: the windows read the outputs where they are (the forward: the output
// rows and the initial history; the backward: its block buffer indexed by time), and the window
// sums run as K vector passes over the block.
enum PolaraGrad : int { kExact = 0, kEq13 = 1, kMask = 2 };
constexpr int kPolaraParams = 6, kPolaraOpts = 12;  // OPT = grad + 3 * binary + 6 * before_input
enum PolaraParam : int { kLeak = 0, kB, kBeta, kGamma, kOmax, kAlphaMask };

// amplify's values given e = e^{β min(δ, 0)} (the backward saves e from its forward pass)
struct Amp {
  float delta, dc, e, amp, ua;
};

inline Amp amplify_given(float v, float th, float b, float e) {
  Amp a;
  a.delta = v - th;
  bool below = a.delta <= 0.0f;
  a.dc = below ? a.delta : 0.0f;
  a.e = e;
  a.amp = b * e;
  a.ua = below ? v * (1.0f + a.amp) : v;
  return a;
}

inline Amp amplify(float v, float th, float b, float beta) {
  float delta = v - th;
  return amplify_given(v, th, b, vexp(beta * (delta <= 0.0f ? delta : 0.0f)));
}

// ∂ua -> ∂v, accumulating ∂ϑ, ∂B, ∂β (JAX's graph: where(below, v (1 + B exp(β where(below, δ, 0))), v))
inline float amplify_vjp(const Amp& a, float v, float b, float beta, float dua, float& dth, float& db,
                         float& dbeta) {
  bool below = a.delta <= 0.0f;
  float dv = below ? dua * (1.0f + a.amp) : dua;
  float damp = below ? dua * v : 0.0f;
  db += damp * a.e;
  float dy = (damp * b) * a.e;
  dbeta += dy * a.dc;
  float dd = below ? dy * beta : 0.0f;
  dv += dd;
  dth -= dd;
  return dv;
}

// the activation's values given e = e^{-γ d} and sig = sigmoid(ua O(Δ)) (saved, as above)
struct Act {
  float delta, d, e, q, o, z, sig, s;
};

inline Act activation_given(float ua, float th, float omax, float e, float sig) {
  Act a;
  a.delta = ua - th;
  bool pos = a.delta >= 0.0f;
  a.d = pos ? a.delta : 0.0f;
  a.e = e;
  a.q = a.d * (1.0f + a.d * e);
  a.o = std::min(a.q, omax);
  a.z = ua * a.o;
  a.sig = sig;
  a.s = pos ? sig : 0.0f;
  return a;
}

inline Act activation(float ua, float th, float gamma, float omax) {
  float delta = ua - th;
  Act a = activation_given(ua, th, omax, vexp(-gamma * (delta >= 0.0f ? delta : 0.0f)), 0.0f);
  a.sig = sigmoid(a.z);
  a.s = a.delta >= 0.0f ? a.sig : 0.0f;
  return a;
}

template <int G>
struct Polara {
  static constexpr int grad = G % 3;
  static constexpr bool binary = (G / 3) % 2 != 0, before_input = G >= 6;

  // the parameters whose cotangents the vjp accumulates (the others stay 0: the reverse pass
  // neither loads nor stores their accumulators)
  static constexpr bool accumulates(int c) {
    return c == kLeak || c == kB || c == kBeta || (grad == kExact && (c == kGamma || c == kOmax));
  }

  // ua of one step from u, ϑ, x and the parameters (given amplify's e where SAVED)
  template <bool SAVED = false>
  static inline float integrate(const float* q, float u, float th, float x, Amp* amp, float* v, float e = 0.0f) {
    float ud = q[kLeak] * u;
    *v = before_input ? ud : ud + x;
    *amp = SAVED ? amplify_given(*v, th, q[kB], e) : amplify(*v, th, q[kB], q[kBeta]);
    return before_input ? amp->ua + x : amp->ua;
  }

  static inline float output(float ua, float th, const float* q, Act* act) {
    *act = activation(ua, th, q[kGamma], q[kOmax]);
    if constexpr (binary) return act->s + ((act->delta >= 0.0f ? 1.0f : 0.0f) - act->s);
    return act->s;
  }

  // ∂s -> ∂ua, ∂ϑ (added to dua, dth), accumulating ∂γ, ∂o_max ("exact" only); e, sig: the
  // activation's saved values
  static inline void activation_vjp(float ua, float th, const float* q, float ds, float& dua, float& dth,
                                    float* dq, float e, float sig) {
    if constexpr (grad == kMask) {
      float g = std::fabs(ua - th) < 1.0f ? ds * q[kAlphaMask] : 0.0f;
      dua += g;
      dth -= g;
    } else {
      Act a = activation_given(ua, th, q[kOmax], e, sig);
      bool pos = a.delta >= 0.0f;
      float dsig = a.sig * (1.0f - a.sig);
      if constexpr (grad == kEq13) {
        float do13 = (1.0f - a.d) * a.e;
        dua += pos ? ds * dsig * (a.o + ua * do13) : 0.0f;
        dth += pos ? -ds * dsig * ua * do13 : 0.0f;
      } else {
        float dz = (pos ? ds : 0.0f) * dsig;
        dua += dz * a.o;
        float dO = dz * ua;
        // jnp.minimum's derivative: 1 to the smaller, ½ each on a tie
        float wq = a.q < q[kOmax] ? 1.0f : (a.q == q[kOmax] ? 0.5f : 0.0f);
        float dqq = dO * wq;
        dq[kOmax] += dO * (1.0f - wq);
        float dd = dqq * (1.0f + a.d * a.e);
        float dde = dqq * a.d;
        dd += dde * a.e;
        float dy = (dde * a.d) * a.e;
        dq[kGamma] += -(dy * a.d);
        dd += dy * -q[kGamma];
        float dl = pos ? dd : 0.0f;
        dua += dl;
        dth -= dl;
      }
    }
  }
};

// The window sums run chunk by chunk over the block: 16 lanes at a time (then 8, then 1 for the
// rest), each chunk's sums held in registers across the window's K rows, so that a row is read
// once per chunk and no partial sum goes through memory (K passes over the block, each loading
// and storing the sums, were ~15 % of the POLARA backward at (128, 256, 100), perf). GCC's vector
// types (V: V16, V8 or float) say so explicitly: written as loops over lanes, GCC assembled the
// vectors lane by lane. The additions keep the order of one pass per row: j ascending, the first
// term a product.
typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));

template <class V>
inline V vload(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class V>
inline void vstore(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

template <class F>
inline void by_chunks(int64_t n, F&& chunk) {
  int64_t i0 = 0;
  for (; i0 + 16 <= n; i0 += 16) chunk(i0, V16{});
  for (; i0 + 8 <= n; i0 += 8) chunk(i0, V8{});
  for (; i0 < n; ++i0) chunk(i0, 0.0f);
}

// weight j of a window kernel at elements i.. (as a V): K scalars (SW) or K block rows [K][bk]
template <bool SW, class V>
inline V window_weight(const float* w, int64_t j, int64_t bk, int64_t i) {
  if constexpr (SW) {
    return V{} + w[j];
  } else {
    return vload<V>(w + j * bk + i);
  }
}

// The end of a forward step: inh = Σ_j h(j) ŝ_j, rise = Σ_j Θ(j) ŝ_j over the outputs given by
// hist(j) -> float* [n]; u_out = ua (1 + inh), th_out = th (1 + rise) (th_out may be th); the
// sums stored where SAVE.
template <bool SW, bool SAVE, class H>
inline void window_update(int64_t n, int64_t bk, int64_t k, const float* wh, const float* wt, H&& hist,
                          const float* ua, const float* th, float* u_out, float* th_out, float* inh, float* rise) {
  by_chunks(n, [&](int64_t i0, auto zero) {
    using V = decltype(zero);
    V h = vload<V>(hist(0) + i0);
    V si = window_weight<SW, V>(wh, 0, bk, i0) * h;
    V sr = window_weight<SW, V>(wt, 0, bk, i0) * h;
    for (int64_t j = 1; j < k; ++j) {
      V hj = vload<V>(hist(j) + i0);
      si += window_weight<SW, V>(wh, j, bk, i0) * hj;
      sr += window_weight<SW, V>(wt, j, bk, i0) * hj;
    }
    vstore(u_out + i0, vload<V>(ua + i0) * (1.0f + si));
    vstore(th_out + i0, vload<V>(th + i0) * (1.0f + sr));
    if constexpr (SAVE) {
      vstore(inh + i0, si);
      vstore(rise + i0, sr);
    }
  });
}

// The cotangent of one output from the windows that hold it: gs = init + Σ_{j=j0}^{j1-1} h(j)
// ∂inh[j] + Σ_{j=j0}^{j1-1} Θ(j) ∂rise[j], the rows ∂inh[j] = dinh + j bk (likewise ∂rise;
// j1 <= K: the windows of steps up to T - 1 only); init null: 0.
template <bool SW>
inline void window_gather(int64_t n, int64_t bk, int64_t j0, int64_t j1, const float* wh, const float* wt,
                          const float* init, const float* dinh, const float* drise, float* gs) {
  by_chunks(n, [&](int64_t i0, auto zero) {
    using V = decltype(zero);
    V g = init ? vload<V>(init + i0) : zero;
    for (int64_t j = j0; j < j1; ++j) g += window_weight<SW, V>(wh, j, bk, i0) * vload<V>(dinh + j * bk + i0);
    for (int64_t j = j0; j < j1; ++j) g += window_weight<SW, V>(wt, j, bk, i0) * vload<V>(drise + j * bk + i0);
    vstore(gs + i0, g);
  });
}

// The window kernels' cotangents, dwin[j] += Σ_t ∂inh_t s_{t-j}, dwin[K + j] += Σ_t ∂rise_t s_{t-j}
// (rows ∂inh_t = dinh + t bk, s_τ = outs + τ bk, τ >= -K), in groups of up to 6 lags per chunk
// with the 2 x 6 sums in registers over t (one pass per (t, j) loading and storing both sums
// was ~10 % of the POLARA backward at (128, 256, 100), perf). Each sum adds over t ascending,
// as that pass did.
template <int G>
inline void window_cotangents_group(int64_t n, int64_t bk, int64_t T, int64_t k, int64_t j0, const float* dinh,
                                    const float* drise, const float* outs, float* dwin) {
  by_chunks(n, [&](int64_t i0, auto zero) {
    using V = decltype(zero);
    V ah[G], at[G];
    for (int g = 0; g < G; ++g) {
      ah[g] = vload<V>(dwin + (j0 + g) * bk + i0);
      at[g] = vload<V>(dwin + (k + j0 + g) * bk + i0);
    }
    for (int64_t t = 0; t < T; ++t) {
      V di = vload<V>(dinh + t * bk + i0);
      V dr = vload<V>(drise + t * bk + i0);
      for (int g = 0; g < G; ++g) {
        V sv = vload<V>(outs + (t - j0 - g) * bk + i0);
        ah[g] += di * sv;
        at[g] += dr * sv;
      }
    }
    for (int g = 0; g < G; ++g) {
      vstore(dwin + (j0 + g) * bk + i0, ah[g]);
      vstore(dwin + (k + j0 + g) * bk + i0, at[g]);
    }
  });
}

inline void window_cotangents(int64_t n, int64_t bk, int64_t T, int64_t k, const float* dinh, const float* drise,
                              const float* outs, float* dwin) {
  for (int64_t j0 = 0; j0 < k; j0 += 6) {
    switch (std::min<int64_t>(6, k - j0)) {
      case 6: window_cotangents_group<6>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
      case 5: window_cotangents_group<5>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
      case 4: window_cotangents_group<4>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
      case 3: window_cotangents_group<3>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
      case 2: window_cotangents_group<2>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
      default: window_cotangents_group<1>(n, bk, T, k, j0, dinh, drise, outs, dwin); break;
    }
  }
}

// A block's parameters (expanded to [6][bk]; where every one is a scalar, sp, the element loops
// take their values pv from registers instead, as the generic kernels do: all_scalar) and window
// kernels: K scalars each where both are one value per lag (sw), else [K][bk] each (a scalar one
// expanded).
struct PolaraBlock {
  float* p;       // [6][bk]
  float* win[2];  // h, Θ
  bool sw;
  bool sp;
  float pv[kPolaraParams];
};

inline void polara_load(const PolaraArgs& a, int64_t v, int64_t off, int64_t e0, int64_t n, int64_t bk,
                        PolaraBlock* b) {
  for (int k = 0; k < kPolaraParams; ++k) load_row(a.scalar[k], a.prm[k], v, off, n, b->p + k * bk);
  b->sp = all_scalar(a, kPolaraParams);
  for (int k = 0; k < kPolaraParams; ++k) b->pv[k] = a.prm[k][b->sp ? v : 0];  // as the generic kernels'
  b->sw = a.win_scalar[0] && a.win_scalar[1];
  for (int w = 0; w < 2; ++w) {
    if (b->sw) {
      std::memcpy(b->win[w], a.win[w] + v * a.k, a.k * sizeof(float));
    } else if (a.win_scalar[w]) {
      for (int64_t j = 0; j < a.k; ++j) std::fill(b->win[w] + j * bk, b->win[w] + j * bk + n, a.win[w][v * a.k + j]);
    } else {
      for (int64_t j = 0; j < a.k; ++j) {
        std::memcpy(b->win[w] + j * bk, a.win[w] + (v * a.k + j) * a.e + e0, n * sizeof(float));
      }
    }
  }
}

// What the backward's forward pass saves per step ([bk] each): the window sums and the values of
// the three exps (amplify's e, the activation's e and sigmoid), so that its reverse pass
// computes no exp.
struct PolaraSaved {
  float* inh;
  float* rise;
  float* e_amp;
  float* e_act;
  float* sig;
};

// One forward step over a block: from u, th to u_out, th_out (the same arrays in the forward, the
// next rows of the saved ones in the backward's forward pass), the output written to out; hist(j) the
// outputs of steps t - j (hist(0) = out, hence no __restrict on out); ua: [bk] scratch; sv: where
// SAVE, where the window sums and the exps' values go (unused otherwise).
template <class P, bool SAVE, class H, class... R>
inline void polara_step(int64_t n, int64_t bk, const PolaraArgs& a, const PolaraBlock& b, const float* __restrict x,
                        const float* u, const float* th, float* u_out, float* th_out, float* out,
                        float* __restrict ua, const PolaraSaved& sv, H&& hist, bool ahead, R*... ahead_rows) {
  const float* __restrict p = b.p;
  auto run = [&](auto sp) {  // sp: std::true_type where b.sp (the values from registers)
    by_groups(
        n, ahead,
        [&](int64_t i0, int64_t i1) {
#pragma GCC ivdep
          for (int64_t i = i0; i < i1; ++i) {
            float q[kPolaraParams];
            for (int k = 0; k < kPolaraParams; ++k) q[k] = decltype(sp)::value ? b.pv[k] : p[k * bk + i];
            Amp amp;
            Act act;
            float vv;
            float a_ = P::integrate(q, u[i], th[i], x[i], &amp, &vv);
            ua[i] = a_;
            out[i] = P::output(a_, th[i], q, &act);
            if constexpr (SAVE) {
              sv.e_amp[i] = amp.e;
              sv.e_act[i] = act.e;
              sv.sig[i] = act.sig;
            }
          }
        },
        ahead_rows...);
  };
  if (b.sp) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
  // u = ua (1 + Σ_j h(j) ŝ_j), ϑ = ϑ (1 + Σ_j Θ(j) ŝ_j)
  if (b.sw) {
    window_update<true, SAVE>(n, bk, a.k, b.win[0], b.win[1], hist, ua, th, u_out, th_out, sv.inh, sv.rise);
  } else {
    window_update<false, SAVE>(n, bk, a.k, b.win[0], b.win[1], hist, ua, th, u_out, th_out, sv.inh, sv.rise);
  }
}

// p [6][bk], the windows [2][K][bk], u, ϑ and ua [bk] each (the backward uses ua only)
inline int64_t polara_scratch_floats(int64_t k, int64_t bk) { return (kPolaraParams + 2 * k + 3) * bk; }

template <int G>
void polara_forward(Dims d, const PolaraArgs& a) {
  using P = Polara<G>;
  const int64_t k = a.k, bk = kFwdBlock;
  int64_t nb = (d.e + bk - 1) / bk;
  parallel_for(a.workers, d.v * nb, d.t * std::min(d.e, bk) * 8, [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    // every value is written before it is read; a uniform history takes K rows more
    scratch.resize(polara_scratch_floats(k, bk) + (a.uniform ? k * bk : 0));
    PolaraBlock b{scratch.data(), {scratch.data() + kPolaraParams * bk, scratch.data() + (kPolaraParams + k) * bk}};
    float* u = b.win[1] + k * bk;
    float* th = u + bk;
    float* ua = th + bk;
    PolaraSaved sv{};  // nothing saved
    polara_load(a, v, off, e0, n, bk, &b);
    load_row(a.uniform, a.u0, v, off, n, u);
    load_row(a.uniform, a.th0, v, off, n, th);
    // the windows read the outputs where they are: s_τ in the output's row τ, or (τ < 0) in the
    // initial history's row -1 - τ (no copies into a ring and out of it each step; a uniform
    // history's rows are filled here)
    const float* xs = a.xs + v * d.t * d.e + e0;
    float* ys = a.ys + v * d.t * d.e + e0;
    const float* h0 = a.h0 + v * k * d.e + e0;
    int64_t h_stride = d.e;
    if (a.uniform) {
      float* rows = scratch.data() + polara_scratch_floats(k, bk);
      for (int64_t j = 0; j < k; ++j) load_row(true, a.h0, v * k + j, 0, n, rows + j * bk);
      h0 = rows;
      h_stride = bk;
    }
    auto output = [&](int64_t tau) -> const float* { return tau >= 0 ? ys + tau * d.e : h0 + (-1 - tau) * h_stride; };
    for (int64_t t = 0; t < d.t; ++t) {
      const int64_t ta = std::min(t + kAhead, d.t - 1);
      polara_step<P, false>(
          n, bk, a, b, xs + t * d.e, u, th, u, th, ys + t * d.e, ua, sv, [&](int64_t j) { return output(t - j); },
          t + kAhead < d.t, xs + ta * d.e, ys + ta * d.e);
    }
    std::memcpy(a.uT + off, u, n * sizeof(float));
    std::memcpy(a.thT + off, th, n * sizeof(float));
  });
}

// The backward. Its forward pass saves, per step, u and ϑ entering it, the window sums and the
// exps' values (PolaraSaved), and the outputs. The reverse pass overwrites each step's window
// sums with their cotangents ∂inh_t, ∂rise_t, and gathers the cotangent of s_τ from the steps
// whose windows hold it: ∂s_τ = ∂y_τ + Σ_j (∂inh_{τ+j} h(j) + ∂rise_{τ+j} Θ(j)) (+ the final
// history's cotangent for the last K outputs), so no cotangent is scattered per step. The window
// kernels' cotangents Σ_t ∂inh_t s_{t-j} are summed once at the end.
template <int G, bool PG>
void polara_backward(Dims d, const PolaraArgs& a) {
  using P = Polara<G>;
  const int64_t k = a.k, T = d.t;
  // per element: 5 values per step (u and ϑ: T + 1 rows, the last one the final state), the window
  // sums (and then their cotangents) over K + T rows (step t at row K + t: only those T are written
  // and read, the gathers stopping at step T - 1; the first K rows let the initial history's
  // gathers start below step 0), the outputs of steps -K..T-1
  const int64_t rows = 5 * T + 2 + 2 * (T + k) + (T + k);
  int64_t bk = kBufferFloats / rows;
  bk = std::max<int64_t>(8, std::min<int64_t>(kFwdBlock, bk - bk % 8));
  int64_t nb = (d.e + bk - 1) / bk;
  constexpr int NQ = kPolaraParams;
  std::vector<double> partial(d.v * nb * (NQ + 2 * k), 0.0);
  parallel_for(a.workers, d.v * nb, T * std::min(d.e, bk) * 16, [&](int64_t item, std::vector<float>& scratch) {
    int64_t v = item / nb, e0 = (item % nb) * bk, n = std::min(bk, d.e - e0);
    int64_t off = v * d.e + e0;
    // not zeroed (a memset of the whole buffer per block): only the accumulators are, below
    scratch.resize(polara_scratch_floats(k, bk) + (rows + NQ + 3 * k + 5) * bk);
    PolaraBlock b{scratch.data(), {scratch.data() + NQ * bk, scratch.data() + (NQ + k) * bk}};
    float* ua = b.win[1] + (k + 2) * bk;
    float* sv_u = ua + bk;  // [T + 1][bk]: the state entering step t in row t
    float* sv_th = sv_u + (T + 1) * bk;
    float* sv_eamp = sv_th + (T + 1) * bk;
    float* sv_eact = sv_eamp + T * bk;
    float* sv_sig = sv_eact + T * bk;
    float* inh = sv_sig + T * bk;       // [K + T][bk]: step t at row K + t
    float* rise = inh + (T + k) * bk;
    float* outs = rise + (T + k) * bk;  // [T + K][bk]: s_τ at τ + K
    float* dq = outs + (T + k) * bk;        // [6][bk] parameter cotangents
    float* dwin = dq + NQ * bk;             // [2][K][bk] window-kernel cotangents
    float* gT = dwin + 2 * k * bk;          // [K][bk] the final history's cotangent
    float* gs = gT + k * bk;                // [bk] ∂s_t from later steps' windows
    float* du = gs + bk;
    float* dth = du + bk;
    if constexpr (PG) std::fill(dq, dq + NQ * bk, 0.0f);
    if (a.grads & kGradWindows) std::fill(dwin, dwin + 2 * k * bk, 0.0f);
    polara_load(a, v, off, e0, n, bk, &b);
    load_row(a.uniform, a.u0, v, off, n, sv_u);
    load_row(a.uniform, a.th0, v, off, n, sv_th);
    for (int64_t j = 0; j < k; ++j) {
      load_row(a.uniform, a.h0, v * k + j, (v * k + j) * d.e + e0, n, outs + (k - 1 - j) * bk);
    }
    const float* x = a.xs + v * T * d.e + e0;
    for (int64_t t = 0; t < T; ++t) {
      PolaraSaved sv{inh + (t + k) * bk, rise + (t + k) * bk, sv_eamp + t * bk, sv_eact + t * bk, sv_sig + t * bk};
      float *ut = sv_u + t * bk, *tht = sv_th + t * bk;
      polara_step<P, true>(
          n, bk, a, b, x + t * d.e, ut, tht, ut + bk, tht + bk, outs + (t + k) * bk, ua, sv,
          [&](int64_t j) { return outs + (t - j + k) * bk; }, t + kAhead < T, x + std::min(t + kAhead, T - 1) * d.e);
    }
    // ∂s_τ from the windows of steps τ + j0 .. min(τ + K, T) - 1 (their ∂inh, ∂rise already in
    // place) and from the final history (unless its cotangent is zero), into gs
    const bool zero_final = (a.grads & kZeroFinal) != 0;
    auto gather = [&](int64_t tau, int64_t j0) {
      const float* init = !zero_final && T - 1 - tau < k ? gT + (T - 1 - tau) * bk : nullptr;
      const float* di = inh + (tau + k) * bk;
      const float* dr = rise + (tau + k) * bk;
      int64_t j1 = std::min(k, T - tau);
      if (b.sw) {
        window_gather<true>(n, bk, j0, j1, b.win[0], b.win[1], init, di, dr, gs);
      } else {
        window_gather<false>(n, bk, j0, j1, b.win[0], b.win[1], init, di, dr, gs);
      }
    };
    // the first row of each window kernel, per element (scalar kernels expanded): the reverse
    // step's own term, without a select in its loop
    float* w0 = dth + bk;  // [2][bk]
    for (int w = 0; w < 2; ++w) {
      if (b.sw) {
        std::fill(w0 + w * bk, w0 + w * bk + n, b.win[w][0]);
      } else {
        std::memcpy(w0 + w * bk, b.win[w], n * sizeof(float));
      }
    }
    final_cotangent(a.grads, a.duT, off, n, du);
    final_cotangent(a.grads, a.dthT, off, n, dth);
    for (int64_t j = 0; !zero_final && j < k; ++j) {
      std::memcpy(gT + j * bk, a.dhT + (v * k + j) * d.e + e0, n * sizeof(float));
    }
    const float* __restrict p = b.p;
    const float* __restrict wh0 = w0;
    const float* __restrict wt0 = w0 + bk;
    const float* dy = a.dys + v * T * d.e + e0;
    float* dx = a.dxs + v * T * d.e + e0;
    for (int64_t t = T - 1; t >= 0; --t) {
      gather(t, 1);
      const float* __restrict xt = x + t * d.e;
      const float* __restrict dyt = dy + t * d.e;
      float* __restrict dxt = dx + t * d.e;
      const float* __restrict su = sv_u + t * bk;
      const float* __restrict sth = sv_th + t * bk;
      const float* __restrict sea = sv_eamp + t * bk;
      const float* __restrict sec = sv_eact + t * bk;
      const float* __restrict ssg = sv_sig + t * bk;
      float* __restrict it = inh + (t + k) * bk;
      float* __restrict rt = rise + (t + k) * bk;
      const int64_t ta = std::max<int64_t>(t - kAhead, 0);
      auto run = [&](auto sp) {  // sp: std::true_type where b.sp (the values from registers)
        by_groups(
            n, t >= kAhead,
            [&](int64_t i0, int64_t i1) {
#pragma GCC ivdep
              for (int64_t i = i0; i < i1; ++i) {
                float q[kPolaraParams], acc[kPolaraParams];
                for (int c = 0; c < kPolaraParams; ++c) q[c] = decltype(sp)::value ? b.pv[c] : p[c * bk + i];
                for (int c = 0; c < kPolaraParams; ++c) acc[c] = PG && P::accumulates(c) ? dq[c * bk + i] : 0.0f;
                Amp amp;
                float vv;
                float a_ = P::template integrate<true>(q, su[i], sth[i], xt[i], &amp, &vv, sea[i]);
                // u' = ua (1 + inh), ϑ' = ϑ (1 + rise)
                float dinh = du[i] * a_, drise = dth[i] * sth[i];
                float dai = du[i] * (1.0f + it[i]);
                float dthi = dth[i] * (1.0f + rt[i]);
                it[i] = dinh;
                rt[i] = drise;
                float ds = dyt[i] + (gs[i] + (dinh * wh0[i] + drise * wt0[i]));
                P::activation_vjp(a_, sth[i], q, ds, dai, dthi, acc, sec[i], ssg[i]);
                float dxi, dud;
                if constexpr (P::before_input) {
                  dxi = dai;
                  dud = amplify_vjp(amp, vv, q[kB], q[kBeta], dai, dthi, acc[kB], acc[kBeta]);
                } else {
                  dud = amplify_vjp(amp, vv, q[kB], q[kBeta], dai, dthi, acc[kB], acc[kBeta]);
                  dxi = dud;
                }
                acc[kLeak] += dud * su[i];
                du[i] = dud * q[kLeak];
                dth[i] = dthi;
                dxt[i] = dxi;
                for (int c = 0; c < kPolaraParams; ++c) {
                  if (PG && P::accumulates(c)) dq[c * bk + i] = acc[c];
                }
              }
            },
            x + ta * d.e, dy + ta * d.e, dx + ta * d.e);
      };
      if (b.sp) {
        run(std::true_type{});
      } else {
        run(std::false_type{});
      }
    }
    if (!a.uniform || (a.grads & kGradInitial)) {  // (as the generic backward's initial states)
      std::memcpy(a.du0 + off, du, n * sizeof(float));
      std::memcpy(a.dth0 + off, dth, n * sizeof(float));
    }
    for (int64_t j = 0; (a.grads & kGradInitial) && j < k; ++j) {
      // the initial history: s_{-1-j}, in the windows of steps 0 .. K - 2 - j
      gather(-1 - j, 1 + j);
      std::memcpy(a.dh0 + (v * k + j) * d.e + e0, gs, n * sizeof(float));
    }
    // the window kernels' cotangents: Σ_t ∂inh_t s_{t-j}, Σ_t ∂rise_t s_{t-j}
    if (a.grads & kGradWindows) window_cotangents(n, bk, T, k, inh + k * bk, rise + k * bk, outs + k * bk, dwin);
    // parameter cotangents: per element, or summed (in double) for a scalar
    double* part = partial.data() + item * (NQ + 2 * k);
    for (int c = 0; PG && c < NQ; ++c) {
      if (a.scalar[c]) {
        part[c] = sum_f64(dq + c * bk, n);
      } else {
        std::memcpy(a.dprm[c] + off, dq + c * bk, n * sizeof(float));
      }
    }
    for (int w = 0; (a.grads & kGradWindows) && w < 2; ++w) {
      for (int64_t j = 0; j < k; ++j) {
        const float* src = dwin + (w * k + j) * bk;
        if (a.win_scalar[w]) {
          part[NQ + w * k + j] = sum_f64(src, n);
        } else {
          std::memcpy(a.dwin[w] + (v * k + j) * d.e + e0, src, n * sizeof(float));
        }
      }
    }
  });
  for (int64_t v = 0; v < d.v; ++v) {
    for (int64_t c = 0; c < NQ + 2 * k; ++c) {
      bool scalar = c < NQ ? a.scalar[c] : a.win_scalar[(c - NQ) / k];
      bool wanted = (a.grads & (c < NQ ? kGradParams : kGradWindows)) != 0;
      if (!scalar || !wanted) continue;
      double sum = 0.0;
      for (int64_t bb = 0; bb < nb; ++bb) sum += partial[((v * nb + bb) * (NQ + 2 * k)) + c];
      float* dst = c < NQ ? a.dprm[c] + v : a.dwin[(c - NQ) / k] + v * k + (c - NQ) % k;
      *dst = static_cast<float>(sum);
    }
  }
}

// The forward does not depend on the grad mode: only its grad = 0 instantiations are made.
template <int G = 0>
void polara_dispatch(int opt, bool backward, Dims d, const PolaraArgs& a) {
  if constexpr (G < kPolaraOpts) {
    if (backward && opt == G) {
      if (a.grads & kGradParams) return polara_backward<G, true>(d, a);
      return polara_backward<G, false>(d, a);
    }
    if constexpr (G % 3 == 0) {
      if (!backward && opt - opt % 3 == G) return polara_forward<G>(d, a);
    }
    return polara_dispatch<G + 1>(opt, backward, d, a);
  }
}

// ---------------------------------------------------------------------------------------------
// The event-driven synaptic product (snnjax/events.py, event_matmul) of N events: event n adds
// the weight row w[ch[n]] ([C, H]) to the output row out[seg[n]] ([S, H]); a row seg[n] outside
// [0, S) is padding, dropped. A channel outside [0, C) adds NaN (events.py maps such channels to
// C in both paths: jnp.take's fill). Its gradient:
// dw[ch[n]] += ct[seg[n]] (0 where seg[n] is outside [0, S); a channel outside [0, C) dropped,
// as segment_sum drops it). Each thread owns a range of output rows (forward) or of channels
// (backward) and goes through all events in their order, so every row sums its events in the
// order XLA's scatter does; no row is shared between threads, and the zeros are written by the
// thread that then adds to them.
template <class F>
void by_row_ranges(const Workers& workers, int64_t rows, int64_t work, F&& fn) {
  // one part per thread parallel_for runs for this work: each part goes through all events
  int64_t parts = threads_for(workers, work);
  parallel_for(workers, parts, work / parts, [&](int64_t part, std::vector<float>&) {
    fn(rows * part / parts, rows * (part + 1) / parts);
  });
}

inline void add_row(float* __restrict dst, const float* __restrict src, int64_t h) {
  for (int64_t i = 0; i < h; ++i) dst[i] += src[i];
}

inline void add_constant(float* __restrict dst, float c, int64_t h) {
  for (int64_t i = 0; i < h; ++i) dst[i] += c;
}

// dst[to[n]] += src[from[n]] ([rows_src, H] into [rows_dst, H]) for the events n in order: a row
// to[n] outside [0, rows_dst) is dropped, a row from[n] outside [0, rows_src) adds `missing`. The
// product is (src, from, to) = (w, ch, seg) with NaN missing (jnp.take's fill); its gradient
// (ct, seg, ch) with 0 missing (the gather's fill, which turns a -0 sum into +0).
inline void scatter_add_rows(const Workers& workers, const float* src, int64_t rows_src, const int32_t* from,
                             const int32_t* to, int64_t N, int64_t H, float missing, float* dst, int64_t rows_dst) {
  by_row_ranges(workers, rows_dst, (rows_dst + N) * H, [&](int64_t lo, int64_t hi) {
    std::fill(dst + lo * H, dst + hi * H, 0.0f);
    for (int64_t n = 0; n < N; ++n) {
      int64_t r = to[n], q = from[n];
      if (r < lo || r >= hi) continue;
      if (q >= 0 && q < rows_src) {
        add_row(dst + r * H, src + q * H, H);
      } else {
        add_constant(dst + r * H, missing, H);
      }
    }
  });
}
