/**
 * A TCP proxy on 127.0.0.1 between a node under test and one upstream (an etcd member), whose
 * test can cut the node off: `blackhole()` keeps every socket open but forwards nothing (a
 * partitioned network: the node's calls hang, nothing resets), `pass()` forwards again.
 */
import net from 'node:net';

export interface TcpProxy {
  /** http://127.0.0.1:port, to give the node instead of the upstream. */
  readonly endpoint: string;
  readonly port: number;
  blackhole(): void;
  pass(): void;
  close(): Promise<void>;
}

const proxies = new Set<TcpProxy>();
if (typeof afterAll === 'function') afterAll(async () => Promise.all([...proxies].map((p) => p.close())));

export async function startTcpProxy(upstreamPort: number): Promise<TcpProxy> {
  let forwarding = true;
  const sockets = new Set<net.Socket>();
  const pipes: Array<{ from: net.Socket; to: net.Socket }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    const relay = (from: net.Socket, to: net.Socket) => {
      pipes.push({ from, to });
      // While blackholed, bytes are read and dropped: the sender sees no back-pressure and no reset.
      from.on('data', (chunk) => forwarding && to.write(chunk));
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  let closed: Promise<void> | undefined;
  const proxy: TcpProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    blackhole: () => (forwarding = false),
    pass: () => (forwarding = true),
    close() {
      closed ??= new Promise<void>((resolve) => {
        proxies.delete(proxy);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
  proxies.add(proxy);
  return proxy;
}
