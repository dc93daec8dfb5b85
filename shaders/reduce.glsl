// Workgroup-wide reductions through shared memory (portable: no subgroup features needed).
// Every lane of the workgroup must call them (they contain barriers). Needs RED_SIZE >= WG.
shared float red_buf[RED_SIZE];

float wg_sum(float v) {
  const uint lid = gl_LocalInvocationID.x, n = WG;
  red_buf[lid] = v;
  barrier();
  for (uint s = n / 2; s > 0; s >>= 1) {
    if (lid < s) red_buf[lid] += red_buf[lid + s];
    barrier();
  }
  float r = red_buf[0];
  barrier();
  return r;
}

float wg_max(float v) {
  const uint lid = gl_LocalInvocationID.x, n = WG;
  red_buf[lid] = v;
  barrier();
  for (uint s = n / 2; s > 0; s >>= 1) {
    if (lid < s) red_buf[lid] = max(red_buf[lid], red_buf[lid + s]);
    barrier();
  }
  float r = red_buf[0];
  barrier();
  return r;
}
