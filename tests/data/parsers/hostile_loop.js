console.log("starting to spin");
while (true) {}
