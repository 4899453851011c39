console.log("returning a number instead of data points");
payload = 42;
