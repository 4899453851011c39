/* An MQTT device that sends 5 bytes as hexadecimal text: protocol version (int8),
** temperature (int16, big-endian, 1/100 °C) and humidity (uint16, big-endian, 1/100 %).
** Try it with: [{ "variable": "payload", "value": "0109611395", "metadata": { "mqtt_topic": "data" } }]
*/
const mqtt_payload = payload.find((data) => data.variable === "payload" || data.metadata?.mqtt_topic);
if (mqtt_payload) {
  const buffer = Buffer.from(mqtt_payload.value, "hex");
  console.log("received", buffer.length, "bytes on", mqtt_payload.metadata.mqtt_topic);
  const data = [
    { variable: "protocol_version", value: buffer.readInt8(0) },
    { variable: "temperature", value: buffer.readInt16BE(1) / 100, unit: "°C" },
    { variable: "humidity", value: buffer.readUInt16BE(3) / 100, unit: "%" },
  ];
  // Every point of this message in one group, as TagoIO's templates do.
  const group = String(mqtt_payload.time || Date.now());
  payload = data.map((x) => ({ ...x, group, metadata: { mqtt_topic: mqtt_payload.metadata.mqtt_topic } }));
}
