DROP TABLE reconnect_links;
