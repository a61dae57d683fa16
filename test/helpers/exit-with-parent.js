// Preloaded (node --require) into every lockd the test harness starts. The harness gives lockd a
// stdin pipe it never writes to; that pipe reaches end-of-file only when the test process dies
// (jest killed, a crash), and then lockd must not outlive it. lockd itself never reads stdin.
'use strict';
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.on('error', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.resume();
// Reading stdin must not keep an otherwise finished lockd alive.
process.stdin.unref();
