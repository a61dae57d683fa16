// The generated Node client plus one method the service lacks, written by hand through the same
// runtime objects (transport, protocol, seqid table), to see how lockd answers an unknown call.
'use strict';
const thrift = require('thrift');
const LockService = require('../../../../gen-nodejs/LockService');

const { Thrift } = thrift;

function ProbeClient(output, pClass) {
  LockService.Client.call(this, output, pClass);
}
ProbeClient.prototype = Object.create(LockService.Client.prototype);

/** Calls `noSuchMethod` with seqid `seqid` (default: the client's next); the callback gets the reply. */
ProbeClient.prototype.noSuchMethod = function (callback, seqid) {
  this._seqid = seqid === undefined ? this.new_seqid() : seqid;
  this._reqs[this.seqid()] = callback;
  const output = new this.pClass(this.output);
  output.writeMessageBegin('noSuchMethod', Thrift.MessageType.CALL, this.seqid());
  output.writeStructBegin('noSuchMethod_args');
  output.writeFieldStop();
  output.writeStructEnd();
  output.writeMessageEnd();
  this.output.flush();
};

// The runtime dispatches a reply to recv_<name>; lockd must answer with an EXCEPTION message.
// The callback gets (TApplicationException, { messageType, seqid }) or (null, a description).
// The runtime passes the reply's seqid negated (connection.js registers the callback of the call
// with that seqid under its negative), so the reply's own seqid is -rseqid.
ProbeClient.prototype.recv_noSuchMethod = function (input, mtype, rseqid) {
  const callback = this._reqs[rseqid];
  delete this._reqs[rseqid];
  if (mtype === Thrift.MessageType.EXCEPTION) {
    const error = new Thrift.TApplicationException();
    error.read(input);
    input.readMessageEnd();
    return callback(error, { messageType: mtype, seqid: -rseqid });
  }
  input.skip(Thrift.Type.STRUCT);
  input.readMessageEnd();
  return callback(null, `unexpected message type ${mtype}`);
};

module.exports = { ProbeClient };
