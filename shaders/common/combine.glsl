// How a matvec's result v meets an earlier value g of the same output element (dequant_matvec.glsl,
// row_lanes.glsl): RES_ADD v + g (the residual); RES_SWIGLU silu(g) * v (g the gate, v the up
// product); RES_SWIGLU_OAI gpt-oss's clamped form with act = (alpha, limit). The activations are
// unary.comp's.
#define RES_ADD 0u
#define RES_SWIGLU 1u
#define RES_SWIGLU_OAI 2u
float combine(float v, float g, uint mode, vec2 act) {
  if (mode == RES_ADD) return v + g;
  if (mode == RES_SWIGLU) return g / (1.0 + exp(-g)) * v;
  const float gc = min(g, act.y);
  return gc / (1.0 + exp(-act.x * gc)) * (clamp(v, -act.y, act.y) + 1.0);
}
