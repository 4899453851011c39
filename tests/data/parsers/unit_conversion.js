/* The device reports Fahrenheit; the dashboards want Celsius. Everything else is kept. */
payload = payload.map((data) => {
  if (data.variable === "temperature" && data.unit === "F") {
    return { ...data, value: Number(((data.value - 32) * 5 / 9).toFixed(2)), unit: "°C" };
  }
  return data;
});
