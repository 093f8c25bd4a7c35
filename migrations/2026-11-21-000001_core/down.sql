DROP TABLE reactions;
DROP TABLE messages;
DROP TABLE members;
DROP TABLE conversations;
DROP TABLE users;
