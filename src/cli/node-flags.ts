// The flags bin/ferryd and bin/ferry start node with (line 2 of each, run by sh), for whoever
// starts them through node itself (the tests, the bench) and for ferryd to say when they are missing.
//
// Why: V8 sizes the old-generation limit from the live heap (about 8 MB in ferryd) and counts
// the Buffer memory allocated since the last full GC against it. A tunnel moving 500 MB/s
// allocates that much in 30 ms, so with the default floor ferryd ran a full mark-compact for
// every 16 MB it forwarded (67 per GiB, about 40 % of its CPU on the data path). With a 64 MB
// floor the cheap young-generation scavenges free those buffers first.

export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Flags of NODE_FLAGS that this process was started without (by name, any value counts). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return NODE_FLAGS.filter((f) => {
    const name = f.replace(/=.*$/, '');
    return !execArgv.some((a) => a === f || a.startsWith(`${name}=`) || a.replace(/_/g, '-').startsWith(`${name}=`));
  });
}
