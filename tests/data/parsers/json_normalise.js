/* A device that publishes its own JSON, {"temp": 21.5, "hum": 40, "bat": 3.1}, to
** site/<room>/telemetry. Each key becomes a TagoIO variable; the room comes from the MQTT topic
** (metadata.mqtt_topic) and goes into every point's metadata.
*/
const names = { temp: "temperature", hum: "humidity", bat: "battery" };
const units = { temperature: "°C", humidity: "%", battery: "V" };
const raw = payload.find((x) => x.metadata && x.metadata.mqtt_topic && x.variable === undefined);
if (raw) {
  const room = raw.metadata.mqtt_topic.split("/")[1];
  const result = [];
  for (const key of Object.keys(raw)) {
    if (key === "metadata") continue;
    const variable = names[key] || key;
    result.push({ variable, value: raw[key], unit: units[variable], metadata: { room } });
  }
  payload = result;
}
