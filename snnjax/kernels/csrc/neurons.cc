// snnjax's native CPU kernels: whole-sequence forward and backward of the seed neurons, and the
// event-driven synaptic product and its gradient, as XLA FFI handlers (jax.ffi). Python side,
// equations' reference and dispatch: snnjax/kernels/native.py, snnjax/events.py.
//
// The equations here transcribe the neurons' pure step functions (snnjax/neurons/lif.py,
// ilif.py, clif.py, polara.py) and their reverse-mode derivatives; tests/test_native.py checks
// every output, final state and gradient against lax.scan of those functions, for every option.
//
// Layout. Every sequence is [V, T, E] and every per-neuron array (state, parameter) [V, E],
// float32, C order: V counts independent problems (the batch axes that vmap adds in front), E
// the elements of one time step. The time loop runs inside each block of BK elements, with the
// block's state in registers/L1, so the forward reads x and writes y once per element and step;
// the backward recomputes the block's forward (saving the state entering each step, and the
// values its vjp would recompute, in a block buffer of T * (NS + NX) * BK floats, POLARA's
// (8 T + 5 K + 2) * BK, that stays in cache) and then runs the reverse-time pass, reading x and the
// output cotangent and writing the input cotangent once. Blocks are spread over threads.
//
// The kernels (kernels.h) are compiled three times: for the baseline instruction set and, on
// x86-64, for AVX2 (with FMA) and AVX-512 (4, 8 and 16 floats per instruction; chosen at run time
// by what the CPU supports, isa_level), so that one build runs on any x86-64 machine and fast on a
// recent one. kFma (per instantiation) lets exp use fused multiply-adds; the neurons' own
// arithmetic is never contracted (-ffp-contract=off).

#include <Python.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Dims {
  int64_t v, t, e;
};

// The threads a call's kernels run on: XLA's intra-op thread pool, which the FFI hands to every
// handler (the pool XLA's own CPU code runs on). Threads started per call, as before, competed for
// the cores with that pool's workers, which spin a while after their last task before they sleep:
// on 2 cores the kernels' median time was up to 1.6x their best time, and one thread alone was
// often faster than two (benchmarks/RESULTS.md). Without a pool (null), the calling thread only.
class Workers {
 public:
  Workers() = default;  // (not explicit: Args' aggregate initialisation a{} value-initialises it)
  explicit Workers(ffi::ThreadPool* pool) : pool_(pool) {}
  int64_t size() const { return pool_ == nullptr ? 1 : std::max<int64_t>(1, pool_->num_threads()); }
  template <class F>
  void schedule(F&& task) const {
    pool_->Schedule(std::forward<F>(task));  // (runs the task here if the pool refuses it)
  }

 private:
  ffi::ThreadPool* pool_ = nullptr;
};

// [V, T, E] of xs from the rank and sizes of xs and of an initial state [V..., E], or [V..., 1]
// (*uniform: the state is one value per problem, the same for every element: native.py passes
// the state that a neuron's init_state fills uniformly so, instead of broadcasting it to [V, E]
// for the kernels to read; at T = 6, POLARA's zero history alone was as large as xs).
ffi::Error dims_of(const ffi::AnyBuffer& xs, const ffi::AnyBuffer& per, Dims* d, bool* uniform) {
  auto xd = xs.dimensions();
  auto pd = per.dimensions();
  if (pd.size() < 1 || xd.size() != pd.size() + 1) {
    return ffi::Error::InvalidArgument("snnjax native kernel: xs must be [V..., T, E] and states [V..., E]");
  }
  d->e = xd.back();
  if (pd.back() != d->e && pd.back() != 1) {
    return ffi::Error::InvalidArgument("snnjax native kernel: the states must be [V..., E] or [V..., 1]");
  }
  *uniform = pd.back() != d->e;
  d->v = 1;
  for (size_t i = 0; i + 1 < pd.size(); ++i) {
    if (xd[i] != pd[i]) return ffi::Error::InvalidArgument("snnjax native kernel: leading axes differ");
    d->v *= pd[i];
  }
  d->t = xd[pd.size() - 1];
  return ffi::Error::Success();
}

// The pointers of one call: xs, ys / dys, dxs are [V, T, E]; the per-neuron arrays [V, E].
template <int NS, int NP>
struct Args {
  const float* xs;
  const float* st0[NS];
  const float* prm[NP];
  float* ys;            // forward
  float* stT[NS];       // forward
  const float* dys;     // backward
  const float* dstT[NS];
  float* dxs;
  float* dst0[NS];
  float* dprm[NP];
  bool scalar[NP];  // a parameter given once per problem ([V, 1]) instead of per element ([V, E])
  bool uniform;     // the initial states given once per problem ([V, 1]; dims_of)
  int32_t grads;    // backward: the cotangents JAX needs (kGradParams, ...; the others are not written)
  Workers workers;
};

// Which of the np parameters are scalars (into scalar[np]): each must be [V..., 1] or [V..., E].
ffi::Error scalars_of(const Dims& d, const ffi::AnyBuffer* const* prm, int np, bool* scalar) {
  for (int k = 0; k < np; ++k) {
    auto n = static_cast<int64_t>(prm[k]->element_count());
    if (n != d.v && n != d.v * d.e) {
      return ffi::Error::InvalidArgument("snnjax native kernel: a parameter is neither [V, 1] nor [V, E]");
    }
    scalar[k] = n == d.v;
  }
  return ffi::Error::Success();
}

// POLARA's call: the history h0 (and the final history's cotangent) is [V, K, E]; the final
// history itself is not an output of the forward (native.py takes it from ys and h0); the window
// kernels win (h, Θ) are [V, K] (one value per window position) or [V, K, E].
struct PolaraArgs {
  int64_t k, e;
  const float* xs;
  const float* u0;
  const float* th0;
  const float* h0;
  const float* prm[6];  // L, B, β, γ, o_max, α_mask: [V] or [V, E]
  bool scalar[6];
  const float* win[2];
  bool win_scalar[2];
  float* ys;  // forward
  float* uT;
  float* thT;  // (the final history is not written: native.py takes it from ys and h0)
  const float* dys;  // backward
  const float* duT;
  const float* dthT;
  const float* dhT;
  float* dxs;
  float* du0;
  float* dth0;
  float* dh0;
  float* dprm[6];
  float* dwin[2];
  bool uniform;   // u0, ϑ0 and the history given once per problem ([V, 1], [V, K, 1]; dims_of)
  int32_t grads;  // backward: the cotangents JAX needs (kGradParams, ...; the others are not written)
  Workers workers;
};

namespace base {
constexpr bool kFma = false;  // a * b + c rounded twice, as XLA's CPU code does without FMA
#include "kernels.h"
}  // namespace base

// (GCC only: clang ignores #pragma GCC target, and its three copies would all be the baseline)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SNNJAX_HAVE_X86 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
constexpr bool kFma = true;
#include "kernels.h"
}  // namespace avx2
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512")
namespace avx512 {
constexpr bool kFma = true;
#include "kernels.h"
}  // namespace avx512
#pragma GCC pop_options
#endif

// The instruction set the kernels run with: 0 baseline, 1 AVX2, 2 AVX-512 (F, VL, BW, DQ), the
// best the CPU supports, at most the level named by the environment variable SNNJAX_NATIVE_ISA
// ("base", "avx2", "avx512"; snnjax/kernels/native.py checks its value and fixes the level when
// it loads the extension; any other value counts as "base"), read once.
int isa_level() {
  static const int level = [] {
    int best = 0;
#ifdef SNNJAX_HAVE_X86
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 1;
    if (best == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
      best = 2;
    }
#endif
    const char* cap = std::getenv("SNNJAX_NATIVE_ISA");
    if (cap == nullptr || std::strcmp(cap, "avx512") == 0) return best;
    if (std::strcmp(cap, "avx2") == 0) return std::min(best, 1);
    return 0;
  }();
  return level;
}

// CALL (written with the namespace alias isa::) in the instruction set's instantiation.
#ifdef SNNJAX_HAVE_X86
#define SNNJAX_ON_ISA(CALL)        \
  do {                             \
    switch (isa_level()) {         \
      case 2: {                    \
        namespace isa = avx512;    \
        CALL;                      \
        break;                     \
      }                            \
      case 1: {                    \
        namespace isa = avx2;      \
        CALL;                      \
        break;                     \
      }                            \
      default: {                   \
        namespace isa = base;      \
        CALL;                      \
      }                            \
    }                              \
  } while (0)
#else
#define SNNJAX_ON_ISA(CALL) \
  do {                      \
    namespace isa = base;   \
    CALL;                   \
  } while (0)
#endif

// A neuron's forward / backward (FN: forward_dispatch, backward_dispatch), POLARA's.
#define SNNJAX_DISPATCH(NEURON, FN, ...) SNNJAX_ON_ISA(isa::FN<isa::NEURON>(__VA_ARGS__))
#define SNNJAX_POLARA(...) SNNJAX_ON_ISA(isa::polara_dispatch(__VA_ARGS__))

constexpr int kNumSurrogates = base::kNumSurrogates;
constexpr int kSoft = base::kSoft, kNone = base::kNone;

template <class B>
const float* f32(const B& b) {
  return reinterpret_cast<const float*>(b.untyped_data());
}
template <class B>
float* f32_out(B& b) {
  return reinterpret_cast<float*>(b->untyped_data());
}

// ---------------------------------------------------------------------------------------------
// Handlers. Arguments: xs, the NS initial states, the NP parameters (then, for the backward, the
// output cotangent and the NS final-state cotangents); results: ys and the NS final states (for
// the backward: dxs, the NS initial-state cotangents, the NP parameter cotangents, each of its
// parameter's shape: [V, E], or [V, 1] for a scalar, summed over the elements).

using Buf = ffi::AnyBuffer;
using Ret = ffi::Result<ffi::AnyBuffer>;

ffi::Error check_ids(int32_t opt, int32_t n_opt, int32_t sur) {
  if (opt < 0 || opt >= n_opt) return ffi::Error::InvalidArgument("snnjax native kernel: option id");
  if (sur < 0 || sur >= kNumSurrogates) return ffi::Error::InvalidArgument("snnjax native kernel: surrogate id");
  return ffi::Error::Success();
}

// The pointers of a call: xs, the initial states and parameters (both directions), ys and the
// final states (forward), the cotangents in and out (backward).
template <int NS, int NP>
ffi::Error inputs(const Buf& xs, const Buf* const (&st0)[NS], const Buf* const (&prm)[NP], Dims* d,
                  Args<NS, NP>* a) {
  if (auto err = dims_of(xs, *st0[0], d, &a->uniform); err.failure()) return err;
  a->xs = f32(xs);
  for (int k = 0; k < NS; ++k) {
    if (static_cast<int64_t>(st0[k]->element_count()) != d->v * (a->uniform ? 1 : d->e)) {
      return ffi::Error::InvalidArgument("snnjax native kernel: the initial states differ in shape");
    }
    a->st0[k] = f32(*st0[k]);
  }
  for (int k = 0; k < NP; ++k) a->prm[k] = f32(*prm[k]);
  return scalars_of(*d, prm, NP, a->scalar);
}

template <int NS, int NP>
void forward_outputs(Ret& ys, Ret* const (&stT)[NS], Args<NS, NP>* a) {
  a->ys = f32_out(ys);
  for (int k = 0; k < NS; ++k) a->stT[k] = f32_out(*stT[k]);
}

template <int NS, int NP>
void backward_io(const Buf& dys, const Buf* const (&dstT)[NS], Ret& dxs, Ret* const (&dst0)[NS],
                 Ret* const (&dprm)[NP], int32_t grads, Args<NS, NP>* a) {
  a->grads = grads;
  a->dys = f32(dys);
  a->dxs = f32_out(dxs);
  for (int k = 0; k < NS; ++k) {
    a->dstT[k] = f32(*dstT[k]);
    a->dst0[k] = f32_out(*dst0[k]);
  }
  for (int k = 0; k < NP; ++k) a->dprm[k] = f32_out(*dprm[k]);
}

ffi::Error lif_opt(int32_t reset, bool detach, int32_t sur, int32_t* opt) {
  if (reset < kSoft || reset > kNone) return ffi::Error::InvalidArgument("snnjax native kernel: reset id");
  *opt = reset + 4 * detach;
  return check_ids(*opt, base::LIF<0>::NOPT, sur);
}

// the CIU source matters only with the CIU
int32_t ilif_opt(bool use_mpiu, bool use_ciu, bool ciu_input) {
  return use_mpiu + 2 * use_ciu + 4 * (use_ciu && ciu_input);
}

ffi::Error LifFwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf lam, Buf vth, Buf vr, Buf w, Ret ys, Ret mT, int32_t reset,
                      bool detach) {
  Dims d;
  Args<1, 4> a{};
  a.workers = Workers(&pool);
  int32_t opt;
  if (auto err = lif_opt(reset, detach, 0, &opt); err.failure()) return err;
  if (auto err = inputs<1, 4>(xs, {&m0}, {&lam, &vth, &vr, &w}, &d, &a); err.failure()) return err;
  forward_outputs<1, 4>(ys, {&mT}, &a);
  SNNJAX_DISPATCH(LIF, forward_dispatch, opt, d, a);
  return ffi::Error::Success();
}

ffi::Error LifBwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf lam, Buf vth, Buf vr, Buf w, Buf dys, Buf dmT, Ret dxs, Ret dm0,
                      Ret dlam, Ret dvth, Ret dvr, Ret dw, int32_t reset, bool detach, int32_t sur,
                      int32_t grads) {
  Dims d;
  Args<1, 4> a{};
  a.workers = Workers(&pool);
  int32_t opt;
  if (auto err = lif_opt(reset, detach, sur, &opt); err.failure()) return err;
  if (auto err = inputs<1, 4>(xs, {&m0}, {&lam, &vth, &vr, &w}, &d, &a); err.failure()) return err;
  backward_io<1, 4>(dys, {&dmT}, dxs, {&dm0}, {&dlam, &dvth, &dvr, &dw}, grads, &a);
  SNNJAX_DISPATCH(LIF, backward_dispatch, opt, sur, d, a);
  return ffi::Error::Success();
}

ffi::Error IlifFwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf ii0, Buf iu0, Buf lam, Buf vth, Buf lu, Buf li, Buf w, Ret ys, Ret mT,
                       Ret iiT, Ret iuT, bool use_mpiu, bool use_ciu, bool ciu_input) {
  Dims d;
  Args<3, 5> a{};
  a.workers = Workers(&pool);
  int32_t opt = ilif_opt(use_mpiu, use_ciu, ciu_input);
  if (auto err = inputs<3, 5>(xs, {&m0, &ii0, &iu0}, {&lam, &vth, &lu, &li, &w}, &d, &a); err.failure()) return err;
  forward_outputs<3, 5>(ys, {&mT, &iiT, &iuT}, &a);
  SNNJAX_DISPATCH(ILIF, forward_dispatch, opt, d, a);
  return ffi::Error::Success();
}

ffi::Error IlifBwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf ii0, Buf iu0, Buf lam, Buf vth, Buf lu, Buf li, Buf w, Buf dys,
                       Buf dmT, Buf diiT, Buf diuT, Ret dxs, Ret dm0, Ret dii0, Ret diu0, Ret dlam, Ret dvth,
                       Ret dlu, Ret dli, Ret dw, bool use_mpiu, bool use_ciu, bool ciu_input, int32_t sur,
                       int32_t grads) {
  Dims d;
  Args<3, 5> a{};
  a.workers = Workers(&pool);
  int32_t opt = ilif_opt(use_mpiu, use_ciu, ciu_input);
  if (auto err = check_ids(opt, base::ILIF<0>::NOPT, sur); err.failure()) return err;
  if (auto err = inputs<3, 5>(xs, {&m0, &ii0, &iu0}, {&lam, &vth, &lu, &li, &w}, &d, &a); err.failure()) return err;
  backward_io<3, 5>(dys, {&dmT, &diiT, &diuT}, dxs, {&dm0, &dii0, &diu0}, {&dlam, &dvth, &dlu, &dli, &dw}, grads, &a);
  SNNJAX_DISPATCH(ILIF, backward_dispatch, opt, sur, d, a);
  return ffi::Error::Success();
}

ffi::Error ClifFwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf c0, Buf lam, Buf vth, Buf tau, Buf w, Ret ys, Ret mT, Ret cT) {
  Dims d;
  Args<2, 4> a{};
  a.workers = Workers(&pool);
  if (auto err = inputs<2, 4>(xs, {&m0, &c0}, {&lam, &vth, &tau, &w}, &d, &a); err.failure()) return err;
  forward_outputs<2, 4>(ys, {&mT, &cT}, &a);
  SNNJAX_DISPATCH(CLIF, forward_dispatch, 0, d, a);
  return ffi::Error::Success();
}

ffi::Error ClifBwdImpl(ffi::ThreadPool pool, Buf xs, Buf m0, Buf c0, Buf lam, Buf vth, Buf tau, Buf w, Buf dys, Buf dmT, Buf dcT,
                       Ret dxs, Ret dm0, Ret dc0, Ret dlam, Ret dvth, Ret dtau, Ret dw, int32_t sur,
                       int32_t grads) {
  Dims d;
  Args<2, 4> a{};
  a.workers = Workers(&pool);
  if (auto err = check_ids(0, 1, sur); err.failure()) return err;
  if (auto err = inputs<2, 4>(xs, {&m0, &c0}, {&lam, &vth, &tau, &w}, &d, &a); err.failure()) return err;
  backward_io<2, 4>(dys, {&dmT, &dcT}, dxs, {&dm0, &dc0}, {&dlam, &dvth, &dtau, &dw}, grads, &a);
  SNNJAX_DISPATCH(CLIF, backward_dispatch, 0, sur, d, a);
  return ffi::Error::Success();
}

// LI: no surrogate (its backward is instantiated for id 0 only).
ffi::Error LiFwdImpl(ffi::ThreadPool pool, Buf xs, Buf i0, Buf v0, Buf alpha, Buf beta, Ret ys, Ret iT, Ret vT, bool synaptic) {
  Dims d;
  Args<2, 2> a{};
  a.workers = Workers(&pool);
  if (auto err = inputs<2, 2>(xs, {&i0, &v0}, {&alpha, &beta}, &d, &a); err.failure()) return err;
  forward_outputs<2, 2>(ys, {&iT, &vT}, &a);
  SNNJAX_DISPATCH(LI, forward_dispatch, synaptic ? 1 : 0, d, a);
  return ffi::Error::Success();
}

ffi::Error LiBwdImpl(ffi::ThreadPool pool, Buf xs, Buf i0, Buf v0, Buf alpha, Buf beta, Buf dys, Buf diT, Buf dvT, Ret dxs, Ret di0,
                     Ret dv0, Ret dalpha, Ret dbeta, bool synaptic, int32_t grads) {
  Dims d;
  Args<2, 2> a{};
  a.workers = Workers(&pool);
  if (auto err = inputs<2, 2>(xs, {&i0, &v0}, {&alpha, &beta}, &d, &a); err.failure()) return err;
  backward_io<2, 2>(dys, {&diT, &dvT}, dxs, {&di0, &dv0}, {&dalpha, &dbeta}, grads, &a);
  SNNJAX_DISPATCH(LI, backward_dispatch, synaptic ? 1 : 0, 0, d, a);
  return ffi::Error::Success();
}

// POLARA: the inputs of both directions (xs, u0, ϑ0, the history, the six parameters, the two
// window kernels), checked against each other.
ffi::Error polara_inputs(const Buf& xs, const Buf& u0, const Buf& th0, const Buf& h0, const Buf* const (&prm)[6],
                         const Buf* const (&win)[2], int32_t grad, bool binary, bool before_input, Dims* d,
                         PolaraArgs* a, int32_t* opt) {
  if (grad < 0 || grad > 2) return ffi::Error::InvalidArgument("snnjax native kernel: POLARA grad id");
  *opt = grad + 3 * binary + 6 * before_input;
  if (auto err = dims_of(xs, u0, d, &a->uniform); err.failure()) return err;
  int64_t ve = d->v * d->e, vs = a->uniform ? d->v : ve;  // vs: the size of one state
  if (static_cast<int64_t>(th0.element_count()) != vs || ve == 0 ||
      static_cast<int64_t>(h0.element_count()) % vs != 0 || h0.element_count() == 0) {
    return ffi::Error::InvalidArgument(
        "snnjax native kernel: POLARA's ϑ must be [V, E] and its history [V, K, E] (or [V, 1], [V, K, 1])");
  }
  a->k = static_cast<int64_t>(h0.element_count()) / vs;
  a->e = d->e;
  a->xs = f32(xs);
  a->u0 = f32(u0);
  a->th0 = f32(th0);
  a->h0 = f32(h0);
  for (int c = 0; c < 6; ++c) a->prm[c] = f32(*prm[c]);
  if (auto err = scalars_of(*d, prm, 6, a->scalar); err.failure()) return err;
  for (int w = 0; w < 2; ++w) {
    auto n = static_cast<int64_t>(win[w]->element_count());
    if (n != d->v * a->k && n != ve * a->k) {
      return ffi::Error::InvalidArgument("snnjax native kernel: a window kernel is neither [V, K] nor [V, K, E]");
    }
    a->win_scalar[w] = n == d->v * a->k;
    a->win[w] = f32(*win[w]);
  }
  return ffi::Error::Success();
}

ffi::Error PolaraFwdImpl(ffi::ThreadPool pool, Buf xs, Buf u0, Buf th0, Buf h0, Buf leak, Buf b, Buf beta, Buf gamma, Buf omax, Buf amask,
                         Buf wh, Buf wt, Ret ys, Ret uT, Ret thT, int32_t grad, bool binary,
                         bool before_input) {
  Dims d;
  PolaraArgs a{};
  a.workers = Workers(&pool);
  int32_t opt;
  if (auto err = polara_inputs(xs, u0, th0, h0, {&leak, &b, &beta, &gamma, &omax, &amask}, {&wh, &wt}, grad, binary,
                               before_input, &d, &a, &opt);
      err.failure()) {
    return err;
  }
  a.ys = f32_out(ys);
  a.uT = f32_out(uT);
  a.thT = f32_out(thT);
  SNNJAX_POLARA(opt, false, d, a);
  return ffi::Error::Success();
}

ffi::Error PolaraBwdImpl(ffi::ThreadPool pool, Buf xs, Buf u0, Buf th0, Buf h0, Buf leak, Buf b, Buf beta, Buf gamma, Buf omax, Buf amask,
                         Buf wh, Buf wt, Buf dys, Buf duT, Buf dthT, Buf dhT, Ret dxs, Ret du0, Ret dth0, Ret dh0,
                         Ret dleak, Ret db, Ret dbeta, Ret dgamma, Ret domax, Ret damask, Ret dwh, Ret dwt,
                         int32_t grad, bool binary, bool before_input, int32_t grads) {
  Dims d;
  PolaraArgs a{};
  a.workers = Workers(&pool);
  int32_t opt;
  if (auto err = polara_inputs(xs, u0, th0, h0, {&leak, &b, &beta, &gamma, &omax, &amask}, {&wh, &wt}, grad, binary,
                               before_input, &d, &a, &opt);
      err.failure()) {
    return err;
  }
  a.dys = f32(dys);
  a.duT = f32(duT);
  a.dthT = f32(dthT);
  a.dhT = f32(dhT);
  a.dxs = f32_out(dxs);
  a.du0 = f32_out(du0);
  a.dth0 = f32_out(dth0);
  a.dh0 = f32_out(dh0);
  Ret* dprm[6] = {&dleak, &db, &dbeta, &dgamma, &domax, &damask};
  for (int c = 0; c < 6; ++c) a.dprm[c] = f32_out(*dprm[c]);
  a.dwin[0] = f32_out(dwh);
  a.dwin[1] = f32_out(dwt);
  a.grads = grads;
  SNNJAX_POLARA(opt, true, d, a);
  return ffi::Error::Success();
}

// The event-driven synaptic product, out [S, H] from w [C, H], seg and ch [N] (int32), and its
// gradient, dw [C, H] from ct [S, H], seg, ch: both scatter_add_rows (kernels.h), src rows
// from[n] into dst rows to[n].
ffi::Error scatter_rows(const Workers& workers, const Buf& src, const Buf& from, const Buf& to, Ret& dst, float missing) {
  auto sd = src.dimensions();
  auto dd = dst->dimensions();
  if (src.element_type() != ffi::DataType::F32 || dst->element_type() != ffi::DataType::F32 ||
      from.element_type() != ffi::DataType::S32 || to.element_type() != ffi::DataType::S32 || sd.size() != 2 ||
      dd.size() != 2 || sd[1] != dd[1] || from.element_count() != to.element_count()) {
    return ffi::Error::InvalidArgument(
        "snnjax native kernel: event_matmul takes float32 [C, H] / [S, H] rows and int32 [N] rows and channels");
  }
  auto n = static_cast<int64_t>(from.element_count());
  auto* f = reinterpret_cast<const int32_t*>(from.untyped_data());
  auto* t = reinterpret_cast<const int32_t*>(to.untyped_data());
  SNNJAX_ON_ISA(isa::scatter_add_rows(workers, f32(src), sd[0], f, t, n, sd[1], missing, f32_out(dst), dd[0]));
  return ffi::Error::Success();
}

ffi::Error EventMatmulImpl(ffi::ThreadPool pool, Buf w, Buf seg, Buf ch, Ret out) {
  return scatter_rows(Workers(&pool), w, ch, seg, out, std::numeric_limits<float>::quiet_NaN());
}

ffi::Error EventMatmulBwdImpl(ffi::ThreadPool pool, Buf ct, Buf seg, Buf ch, Ret dw) {
  return scatter_rows(Workers(&pool), ct, seg, ch, dw, 0.0f);
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxEventMatmul, EventMatmulImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<Buf>().Arg<Buf>().Arg<Buf>().Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxEventMatmulBwd, EventMatmulBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<Buf>().Arg<Buf>().Arg<Buf>().Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxLiFwd, LiFwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("synaptic"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxLiBwd, LiBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("synaptic")
                                  .Attr<int32_t>("grads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxClifFwd, ClifFwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxClifBwd, ClifBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("surrogate")
                                  .Attr<int32_t>("grads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxPolaraFwd, PolaraFwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("grad")
                                  .Attr<bool>("binary")
                                  .Attr<bool>("before_input"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxPolaraBwd, PolaraBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("grad")
                                  .Attr<bool>("binary")
                                  .Attr<bool>("before_input")
                                  .Attr<int32_t>("grads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxLifFwd, LifFwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("reset")
                                  .Attr<bool>("detach"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxLifBwd, LifBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int32_t>("reset")
                                  .Attr<bool>("detach")
                                  .Attr<int32_t>("surrogate")
                                  .Attr<int32_t>("grads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxIlifFwd, IlifFwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("use_mpiu")
                                  .Attr<bool>("use_ciu")
                                  .Attr<bool>("ciu_input"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxIlifBwd, IlifBwdImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("use_mpiu")
                                  .Attr<bool>("use_ciu")
                                  .Attr<bool>("ciu_input")
                                  .Attr<int32_t>("surrogate")
                                  .Attr<int32_t>("grads"));

// The instruction set in use (isa_level), for snnjax.kernels.native.instruction_set().
extern "C" int SnnjaxNativeIsa() { return isa_level(); }

// A Python module so that setuptools can build and install this file as an extension; the
// handlers are found by ctypes through its file (snnjax/kernels/native.py).
static struct PyModuleDef native_module = {PyModuleDef_HEAD_INIT, "_native", "snnjax's native CPU kernels (XLA FFI)",
                                           -1, nullptr};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&native_module); }
