// The per-head body of rope.comp and rope_qkv.comp: a head staged in shared memory head_sh, its
// optional RMS norm (qk-norm) and its rotation (the formulas are in rope.comp's header). The
// including shader declares `shared float head_sh[MAX_HEAD_DIM]`, `shared float red_sh[WG]` and
// #defines WG (its local_size_x, a power of two) before including this file.

// theta - 2 pi round(theta / 2 pi), with 2 pi split in two parts (Cody-Waite) so that k * 6.28125 is
// exact for |k| < 2^16: GPU sin/cos are only accurate near [-pi, pi], and positions reach 10^5.
float reduce_angle(float theta) {
  const float k = round(theta * 0.15915494309189535);
  return (theta - k * 6.28125) - k * 0.0019353071795864769;
}

// Stages head_dim floats of a at src into head_sh; returns this invocation's sum of squares.
float rope_stage_head(FloatRef a, uint src, uint head_dim, uint tid) {
  float ss = 0.0;
  for (uint i = tid; i < head_dim; i += WG) {
    const float v = a.v[src + i];
    head_sh[i] = v;
    ss += v * v;
  }
  return ss;
}

// head_sh = head_sh / sqrt(mean(head_sh^2) + eps) * w, ss this invocation's part of the squares.
// Call from uniform control flow. Ends without a barrier.
void rope_norm_head(float ss, FloatRef w, float eps, uint head_dim, uint tid) {
  red_sh[tid] = ss;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (tid < s) red_sh[tid] += red_sh[tid + s];
    barrier();
  }
  const float scale = inversesqrt(red_sh[0] / float(head_dim) + eps);
  for (uint i = tid; i < head_dim; i += WG) head_sh[i] = head_sh[i] * scale * w.v[i];
}

// Rotates the first n_rot dims of head_sh (pairs of ROPE_NEOX or normal) for position pos.
// ff: [n_rot/2] f32 frequency factors, or 0.
void rope_rotate_head(int pos, uint n_rot, float log2_theta_scale, uint64_t ff, float freq_scale,
                      float ext_factor, float corr_lo, float corr_hi, float mscale, uint tid) {
  const uint half_rot = n_rot / 2u;
  for (uint j = tid; j < half_rot; j += WG) {
#if defined(ROPE_NEOX)
    const uint ia = j, ib = j + half_rot;
#else
    const uint ia = 2u * j, ib = 2u * j + 1u;
#endif
    float theta_extrap = float(pos) * exp2(float(j) * log2_theta_scale);
    if (ff != 0ul) theta_extrap /= FloatRef(ff).v[j];
    float theta = freq_scale * theta_extrap;
    if (ext_factor != 0.0) {
      const float y = (float(j) - corr_lo) / max(0.001, corr_hi - corr_lo);
      const float ramp = (1.0 - clamp(y, 0.0, 1.0)) * ext_factor;
      theta = theta * (1.0 - ramp) + theta_extrap * ramp;
    }
    theta = reduce_angle(theta);
    const float c = cos(theta) * mscale, s = sin(theta) * mscale;
    const float x0 = head_sh[ia], x1 = head_sh[ib];
    head_sh[ia] = x0 * c - x1 * s;
    head_sh[ib] = x0 * s + x1 * c;
  }
}

// head_sh[0 .. n) -> halves at word dst of an f16 cache (n even).
void rope_store_halves(UintRef cache, uint dst, uint n, uint tid) {
  for (uint w = tid; w < n / 2u; w += WG)
    cache.v[dst + w] = packHalf2x16(vec2(head_sh[2u * w], head_sh[2u * w + 1u]));
}
