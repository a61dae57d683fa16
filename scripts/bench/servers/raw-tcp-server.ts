/** The floor: a Node TCP server that answers every 8-byte message with 8 bytes. Prints its port. */
import net from 'node:net';

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = 0;
  socket.on('data', (chunk) => {
    pending += chunk.length;
    const replies = Math.floor(pending / 8);
    pending -= replies * 8;
    if (replies > 0) socket.write(Buffer.alloc(replies * 8));
  });
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
