// When a DataChannel-signaling client may be sent `switched`.
//
// sora-js-sdk raises its `datachannel` callback for the `#` labels only inside its `switched`
// handler, and only for the channels its PeerConnection has already handed it; `rpc()` needs the
// `rpc` label open (dist/sora.js signalingOnMessageTypeSwitched, onDataChannel, rpc). So:
// - every DataChannel the node opened must be open (werift sets "open" on the client's DCEP ACK);
// - and no re-offer may be outstanding. Chrome hands DataChannel events to the page through the
//   thread that applies descriptions, while `switched` arrives on the WebSocket: a client busy
//   applying a re-offer (a relayed channel's tracks arriving just after the first offer) ran the
//   `switched` handler before it had seen its DataChannels, and never raised `datachannel`
//   (a clean-clone CI run: re-offer, switched, then the `signaling` channel's onopen). Once the
//   client has answered, the events queued before its answer have been delivered.

export function readyToSwitch(dataChannelStates: readonly string[], reOfferOutstanding: boolean): boolean {
  return !reOfferOutstanding && dataChannelStates.every((state) => state === "open");
}
