/* Variables the network adds that nobody wants stored. */
const ignore_vars = ["rssi", "snr", "frame_counter"];
payload = payload.filter((x) => !ignore_vars.includes(x.variable));
